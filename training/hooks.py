"""The caller's handle on a running recipe: observe events, and steer it at the next step boundary."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from training.events import Event, Fault


class FaultAction(StrEnum):
    """What the recipe does after a fault (non-finite loss/gradient, OOM); the weights are untouched."""

    SKIP_STEP = "skip_step"
    """Drop this step's batch and go on with the next one."""
    ROLLBACK = "rollback"
    """Restore the newest valid checkpoint of this phase (or the phase start), then go on."""
    STOP_PHASE = "stop_phase"
    """End the phase with status 'faulted' (the default when nobody decides)."""


@dataclass(frozen=True)
class Commands:
    """Requests collected since the last step boundary; the recipe applies them all at once."""

    stop: str | None = None
    skip_phase: str | None = None
    peak_lr: float | None = None
    """The schedule's new peak LR (each step's LR is peak_lr times the schedule's factor)."""
    micro_batch: int | None = None
    grad_accum: int | None = None
    epochs: int | None = None
    checkpoint: bool = False
    rollback: bool = False
    rollback_to: str | None = None
    """A specific checkpoint directory of the current phase; None means the newest valid one."""

    def is_empty(self) -> bool:
        return self == Commands()


class TrainerHooks:
    """Thread-safe control object passed to `train_specialist` / `train_phase`.

    Observe: pass `on_event` (called with every event, in the training thread) or override `on_event`.
    Decide faults: pass `on_fault` or override `decide`; without one, a fault stops the phase.
    Steer from any thread: pause, resume, stop, skip_phase, set_lr, set_batch, set_epochs,
    request_checkpoint, rollback. Every request takes effect at the next step boundary.
    """

    def __init__(
        self,
        on_event: Callable[[Event], None] | None = None,
        on_fault: Callable[[Fault], FaultAction] | None = None,
    ) -> None:
        self._event_callback = on_event
        self._fault_callback = on_fault
        self._lock = threading.Lock()
        self._pending = Commands()
        self._resume = threading.Event()
        self._resume.set()
        self._stopped = threading.Event()

    # Called by the recipe.

    def on_event(self, event: Event) -> None:
        if self._event_callback is not None:
            self._event_callback(event)

    def decide(self, fault: Fault) -> FaultAction:
        if self._fault_callback is not None:
            return FaultAction(self._fault_callback(fault))
        return FaultAction.STOP_PHASE

    def take_commands(self) -> Commands:
        """Return and clear the pending requests (stop stays requested until the run ends)."""
        with self._lock:
            commands, self._pending = self._pending, Commands(stop=self._pending.stop)
        return commands

    def wait_if_paused(self, timeout_s: float) -> bool:
        """Block up to timeout_s while paused; True when the recipe may go on (resumed, or stop requested)."""
        if self._stopped.is_set():
            return True
        return self._resume.wait(timeout_s)

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def wait_for_stop(self, timeout_s: float) -> bool:
        """Used by the injected hang: sleep without heartbeats until stop() or the timeout."""
        return self._stopped.wait(timeout_s)

    # Called by the controller (any thread).

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def stop(self, reason: str = "stop requested") -> None:
        """End the phase at the next step boundary (with a checkpoint) and train no further phases."""
        with self._lock:
            self._pending = _replace(self._pending, stop=reason)
        self._stopped.set()
        self._resume.set()

    def skip_phase(self, reason: str = "skip requested") -> None:
        """End the current phase (with a checkpoint) and go on with the next one."""
        with self._lock:
            self._pending = _replace(self._pending, skip_phase=reason)

    def set_lr(self, peak_lr: float) -> None:
        """Set the schedule's peak LR; the LR of each step is peak_lr * schedule factor."""
        if not peak_lr > 0:
            raise ValueError(f"peak_lr must be > 0, got {peak_lr!r}")
        with self._lock:
            self._pending = _replace(self._pending, peak_lr=peak_lr)

    def set_batch(self, micro_batch: int, grad_accum: int) -> None:
        """Change micro-batch and gradient accumulation (same product = same effective batch)."""
        if micro_batch < 1 or grad_accum < 1:
            raise ValueError(f"micro_batch and grad_accum must be >= 1, got {micro_batch} and {grad_accum}")
        with self._lock:
            self._pending = _replace(self._pending, micro_batch=micro_batch, grad_accum=grad_accum)

    def set_epochs(self, epochs: int) -> None:
        """The current phase now trains `epochs` epochs: more extends it (its LR schedule stretched to the
        new length); as many as it has done, or fewer, ends it at the next step boundary."""
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        with self._lock:
            self._pending = _replace(self._pending, epochs=epochs)

    def request_checkpoint(self) -> None:
        """Save a checkpoint (reason 'on_demand') at the next step boundary."""
        with self._lock:
            self._pending = _replace(self._pending, checkpoint=True)

    def rollback(self, checkpoint: str | None = None) -> None:
        """Restore a checkpoint of the current phase at the next step boundary: the given one, or the
        newest valid one (also when the given one fails its checksums)."""
        with self._lock:
            self._pending = _replace(self._pending, rollback=True, rollback_to=checkpoint)

    @property
    def stop_requested(self) -> bool:
        return self._stopped.is_set()


def _replace(commands: Commands, **changes: object) -> Commands:
    return Commands(**{**commands.__dict__, **changes})
