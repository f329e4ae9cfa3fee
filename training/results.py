"""What a phase and a whole specialist run return (JSON-serialisable, so they cross process boundaries)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from training.events import EpochEval, PhaseStatus


class OverlongSummary(BaseModel):
    """training.data.OverlongReport, as data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: int
    overlong: int
    truncated: int
    dropped: int
    action: str
    max_length: int
    longest: int
    example_ids: list[str]


class PhaseResult(BaseModel):
    """Outcome of one phase."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specialist: str
    phase: str
    status: PhaseStatus
    reason: str
    steps: int
    epochs_completed: int
    phase_dir: Path
    final_checkpoint: Path | None
    """Newest checkpoint: the weights the next phase starts from."""
    best_checkpoint: Path | None
    """Highest val exact match among the kept checkpoints of this phase."""
    best_exact_match: float | None
    last_eval: EpochEval | None
    evals: list[EpochEval]
    step_losses: list[float]
    """Loss of every applied optimizer step of the phase, in order (across resumes)."""
    resumed_from: Path | None
    skipped_checkpoints: list[str]
    """Corrupt checkpoints passed over (path: reason)."""
    overlong_train: OverlongSummary | None
    overlong_val: OverlongSummary | None
    wall_time_s: float
    """Wall time of this call (0 when the phase was already done)."""
    train_time_s: float
    """Wall time spent in optimizer steps and checkpoint saves in this call (evaluation excluded)."""
    train_tokens: int
    """Tokens processed by optimizer steps in this call."""
    spike_skipped_steps: int = 0
    """Steps the spike guard skipped in this phase (across resumes)."""


class TrainResult(BaseModel):
    """Outcome of `train_specialist`: every phase, where the weights are, and the final metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specialist: str
    status: PhaseStatus
    method: str
    base_model_dir: Path
    """The model the weights apply to (the foundation for builtin:tiny); the router loads it once."""
    phases: list[PhaseResult]
    foundation: PhaseResult | None
    final_checkpoint: Path | None
    best_checkpoint: Path | None
    """Highest val exact match across all phases (the one to promote to the router)."""
    best_exact_match: float | None
    wall_time_s: float

    @property
    def final_eval(self) -> EpochEval | None:
        for phase in reversed(self.phases):
            if phase.last_eval is not None:
                return phase.last_eval
        return None
