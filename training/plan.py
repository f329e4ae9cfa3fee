"""A phase's resolved plan, and the counters a checkpoint restores for an exact resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settings.recipe import FaultInjection, ModelSection, TrainingSection
from training.data import OverlongReport
from training.events import PhaseStatus
from training.model import Method
from training.results import OverlongSummary

STATE_FIELDS = (
    "micro_batch",
    "grad_accum",
    "epoch",
    "cursor",
    "step",
    "examples_seen",
    "step_losses",
    "evals",
    "spike_guard",
)


@dataclass(frozen=True)
class PhasePlan:
    """Everything one phase needs, fully resolved from the config."""

    specialist: str
    phase: str
    corpus_dir: Path
    epochs: int
    settings: TrainingSection
    faults: FaultInjection
    method: Method
    model: ModelSection
    base_dir: Path
    """The Hugging Face base directory (frozen base for LoRA; starting weights for full)."""
    init_weights: Path | None
    """Weights directory of the previous phase's final checkpoint; None starts from the base."""
    phase_dir: Path
    seed: int
    extra_train: tuple[Path, ...] = ()
    """Train splits of further corpora mixed into this phase's."""


@dataclass
class TrainState:
    """Counters and history that a checkpoint must restore for an exact resume."""

    micro_batch: int
    grad_accum: int
    epoch: int = 0
    cursor: int = 0
    """Examples of the current epoch already consumed."""
    step: int = 0
    """Optimizer steps attempted in the phase (skipped steps count: they consumed their batch)."""
    examples_seen: int = 0
    step_losses: list[list[float]] = field(default_factory=list)
    """[epoch, step, loss] of every applied step."""
    evals: list[dict[str, Any]] = field(default_factory=list)
    """EpochEval events as JSON, in order."""
    spike_guard: dict[str, Any] = field(default_factory=dict)
    """The spike guard's windows and skip count (SpikeGuard.state_dict), as of the checkpoint."""

    def to_payload(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STATE_FIELDS}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TrainState:
        # Checkpoints written before the spike guard existed have no window: it starts empty.
        required = {name: payload[name] for name in STATE_FIELDS if name != "spike_guard"}
        return cls(**required, spike_guard=payload.get("spike_guard", {}))


class StopPhase(Exception):
    """Raised inside the loop to end the phase with a status."""

    def __init__(self, status: PhaseStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def overlong_summary(report: OverlongReport | None) -> OverlongSummary | None:
    if report is None:
        return None
    return OverlongSummary(**{**report.__dict__, "example_ids": list(report.example_ids)})
