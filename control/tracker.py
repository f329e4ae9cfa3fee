"""Per-specialist bookkeeping the supervisor derives from events: the grading window, divergence, params."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from agents.metrics import EpochRecord, MetricWindow
from policies.decisions import TrainParams
from policies.history import CheckpointInfo
from training.events import CheckpointSaved, EpochEval, PhaseStarted, StepMetrics

START_EPOCH = -1
"""The epoch number of a phase's starting weights on the evidence's trajectory (before its epoch 0)."""


def params_of(event: StepMetrics | PhaseStarted) -> TrainParams:
    """The parameters a trainer reports it runs with: its schedule's peak LR and its batch."""
    return TrainParams(peak_lr=event.peak_lr, micro_batch=event.micro_batch, grad_accum=event.grad_accum)


@dataclass
class _Means:
    """The smoothed means of a divergence window counted so far: the last one and the least before it."""

    window: list[float]
    smoothing: int
    count: int = 0
    last: float = math.inf
    best: float = math.inf


@dataclass
class SpecialistTracker:
    """What the supervisor needs in memory about one specialist; rebuilt from events after a restart."""

    specialist: str
    phase: str = ""
    params: TrainParams | None = None
    step_losses: list[float] = field(default_factory=list)
    """Step losses since the last grading (the window the watchdog sees)."""
    step_grad_norms: list[float] = field(default_factory=list)
    """Gradient norms of the same steps."""
    epochs: list[EpochRecord] = field(default_factory=list)
    """Epoch evaluations since the last grading."""
    graded_epochs: list[EpochRecord] = field(default_factory=list)
    """The phase's evaluations already graded, in the order they came (the evidence's trajectory)."""
    skipped_steps: list[int] = field(default_factory=list)
    """Steps the spike guard skipped since the phase start or the last decision about them."""
    phase_started_at: float | None = None
    hard_faults: list[str] = field(default_factory=list)
    divergence_losses: list[float] = field(default_factory=list)
    """Finite step losses since the phase start or the last rollback (the divergence window)."""
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    last_val_loss: float = math.inf
    last_epoch: int = 0
    _means: _Means = field(default_factory=lambda: _Means([], 0), repr=False)

    def start_phase(self, phase: str, now: float | None = None) -> None:
        """A new phase: windows start empty. A resumed phase keeps its start: epochs are timed from it."""
        if phase != self.phase:
            self.phase = phase
            self.phase_started_at = time.time() if now is None else now
            for items in (self.step_losses, self.step_grad_norms, self.epochs, self.graded_epochs,
                          self.hard_faults, self.divergence_losses, self.checkpoints, self.skipped_steps):
                items.clear()
            self._means = _Means([], 0)

    def on_step(self, event: StepMetrics) -> None:
        self.step_losses.append(event.loss)
        self.step_grad_norms.append(event.grad_norm)
        if math.isfinite(event.loss):
            self.divergence_losses.append(event.loss)
        self.params = params_of(event)

    def on_epoch(self, event: EpochEval) -> None:
        """An evaluation: epochs wait in the window for their grade; the phase's start (`start`) goes straight
        onto the graded trajectory as epoch -1, the reference its first epoch is judged against."""
        self.last_val_loss = event.val_loss
        record = EpochRecord(
            epoch=START_EPOCH if event.start else event.epoch,
            val_loss=event.val_loss,
            exact_match=event.exact_match or 0.0,
            format_validity=event.format_validity or 0.0,
            lr=self.params.peak_lr if self.params else 1e-3,  # the peak LR: the rubric looks for its changes
            n=event.n_graded,
        )
        if event.start:
            if not any(earlier.epoch == START_EPOCH for earlier in self.graded_epochs):
                self.graded_epochs.insert(0, record)  # once: a retried report is a duplicate
            return
        self.last_epoch = event.epoch
        if self.epochs and event.epoch <= self.epochs[-1].epoch:
            return  # a duplicate report (retried call) or an epoch replayed after a rollback
        self.epochs.append(record)

    def on_checkpoint(self, event: CheckpointSaved) -> None:
        info = CheckpointInfo(step=event.step, epoch=event.epoch, val_loss=self.last_val_loss,
                              exact_match=event.exact_match)
        self.checkpoints.append(info)

    def on_skip(self, step: int, window_steps: int) -> int:
        """Record a step the spike guard skipped; the skips within the last `window_steps` steps."""
        self.skipped_steps.append(step)
        self.skipped_steps[:] = [s for s in self.skipped_steps if s > step - window_steps]
        return len(self.skipped_steps)

    def seconds_per_epoch(self, epochs_done: int, now: float) -> float | None:
        """Wall seconds per epoch of this phase so far (evaluations and checkpoints included)."""
        if self.phase_started_at is None or epochs_done < 1 or now <= self.phase_started_at:
            return None
        return (now - self.phase_started_at) / epochs_done

    def on_rollback(self) -> None:
        """Losses before a rollback no longer describe the weights being trained."""
        self.divergence_losses.clear()
        self._means = _Means([], 0)

    def diverged(self, k: float, min_steps: int, smoothing: int = 8) -> tuple[float, float] | None:
        """(loss, best) when the mean of the last `smoothing` losses exceeds k x the best such mean before
        it. Means, not single steps: with length-bucketed batches one batch of long examples can score
        several times the best step, and a rollback replays that same batch."""
        window = self.divergence_losses
        if len(window) < max(min_steps, 2 * smoothing):
            return None
        last, best = self._smoothed(window, smoothing)
        if best > 0 and last > k * best:
            return last, best
        return None

    def _smoothed(self, window: list[float], smoothing: int) -> tuple[float, float]:
        """(the last `smoothing`-step mean, the least mean before it), extended by the steps added since the
        last call: called every step, a recount of the whole phase would cost O(steps) per step."""
        count = len(window) - smoothing + 1
        means = self._means
        if means.window is not window or means.smoothing != smoothing or count < means.count:
            means = self._means = _Means(window, smoothing)  # cleared (a rollback, a new phase): start over
        for start in range(means.count, count):
            means.best = min(means.best, means.last)
            means.last = sum(window[start : start + smoothing]) / smoothing
        means.count = count
        return means.last, means.best

    def take_window(self) -> MetricWindow | None:
        """The window to grade (and reset it), or None when no epoch was evaluated since the last grade."""
        if not self.epochs:
            return None
        window = MetricWindow(
            specialist=self.specialist,
            phase=self.phase or "main",
            epochs=list(self.epochs),
            earlier_epochs=list(self.graded_epochs),
            step_losses=list(self.step_losses),
            step_grad_norms=list(self.step_grad_norms),
            hard_faults=list(self.hard_faults),
        )
        self.graded_epochs.extend(self.epochs)
        for items in (self.epochs, self.step_losses, self.step_grad_norms, self.hard_faults):
            items.clear()
        return window
