"""Per-specialist bookkeeping the supervisor derives from events: the grading window, divergence, params."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agents.metrics import EpochRecord, MetricWindow
from policies.decisions import TrainParams
from policies.history import CheckpointInfo


@dataclass
class SpecialistTracker:
    """What the supervisor needs in memory about one specialist; rebuilt from events after a restart."""

    specialist: str
    phase: str = ""
    params: TrainParams | None = None
    step_losses: list[float] = field(default_factory=list)
    """Step losses since the last grading (the window the watchdog sees)."""
    epochs: list[EpochRecord] = field(default_factory=list)
    """Epoch evaluations since the last grading."""
    hard_faults: list[str] = field(default_factory=list)
    divergence_losses: list[float] = field(default_factory=list)
    """Finite step losses since the phase start or the last rollback (the divergence window)."""
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    memory_pressure: list[str] = field(default_factory=list)
    last_val_loss: float = math.inf
    last_epoch: int = 0

    def start_phase(self, phase: str) -> None:
        """A new phase: windows start empty."""
        if phase != self.phase:
            self.phase = phase
            self.step_losses.clear()
            self.epochs.clear()
            self.hard_faults.clear()
            self.divergence_losses.clear()
            self.checkpoints.clear()

    def on_step(self, event: dict[str, Any]) -> None:
        loss = float(event["loss"])
        self.step_losses.append(loss)
        if math.isfinite(loss):
            self.divergence_losses.append(loss)
        self.params = TrainParams(
            lr=event["peak_lr"], micro_batch=event["micro_batch"], grad_accum=event["grad_accum"]
        )

    def on_epoch(self, event: dict[str, Any]) -> None:
        lr = self.params.lr if self.params else 1e-3
        val_loss = event["val_loss"] if event["val_loss"] is not None else math.nan
        self.last_val_loss = val_loss
        self.last_epoch = event["epoch"]
        if self.epochs and event["epoch"] <= self.epochs[-1].epoch:
            return  # a duplicate report (retried call) or an epoch replayed after a rollback
        self.epochs.append(
            EpochRecord(
                epoch=event["epoch"],
                val_loss=val_loss,
                exact_match=event["exact_match"] or 0.0,
                format_validity=event["format_validity"] or 0.0,
                lr=lr,
            )
        )

    def on_checkpoint(self, event: dict[str, Any]) -> None:
        self.checkpoints.append(
            CheckpointInfo(
                step=event["step"],
                epoch=event["epoch"],
                val_loss=self.last_val_loss,
                exact_match=event.get("exact_match"),
            )
        )

    def on_rollback(self) -> None:
        """Losses before a rollback no longer describe the weights being trained."""
        self.divergence_losses.clear()

    def diverged(self, k: float, min_steps: int, smoothing: int = 8) -> tuple[float, float] | None:
        """(loss, best) when the mean of the last `smoothing` losses exceeds k x the best such mean before
        it. Means, not single steps: with length-bucketed batches one batch of long examples can score
        several times the best step, and a rollback replays that same batch."""
        window = self.divergence_losses
        if len(window) < max(min_steps, 2 * smoothing):
            return None
        means = [sum(window[i : i + smoothing]) / smoothing for i in range(len(window) - smoothing + 1)]
        best = min(means[:-1])
        if best > 0 and means[-1] > k * best:
            return means[-1], best
        return None

    def take_window(self) -> MetricWindow | None:
        """The window to grade (and reset it), or None when no epoch was evaluated since the last grade."""
        if not self.epochs:
            return None
        window = MetricWindow(
            specialist=self.specialist,
            phase=self.phase or "main",
            epochs=list(self.epochs),
            step_losses=list(self.step_losses),
            hard_faults=list(self.hard_faults),
        )
        self.epochs.clear()
        self.step_losses.clear()
        self.hard_faults.clear()
        return window
