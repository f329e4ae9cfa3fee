"""Builders for the supervisor machine's tests: a night from a tiny config, typed events, effect filters.
No Ray, no threads, no files: every test feeds events to `transition` and reads the night and effects."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from control.decision_book import DecisionBook
from control.effects import Effect
from control.events import Reported, SupervisorEvent, TrainerDone
from control.machine import transition
from control.night import Night, new_night
from control.run_state import RunState
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import merged, tiny_run_data
from training.events import EpochEval, PhaseEnded, PhaseStarted, StepMetrics, StepSkipped

NOW = 1_800_000_000.0
E = TypeVar("E")


def config(changes: dict[str, Any] | None = None) -> RunConfig:
    """The tiny test night (foundation, then ascii and runic), with `changes` merged in."""
    data = tiny_run_data(Path("/nonexistent/output"), "machine")
    return config_from_dict(merged(data, changes or {}), RunConfig)


def night(changes: dict[str, Any] | None = None, restored: RunState | None = None) -> Night:
    return new_night(config(changes), "machine.yaml", restored, DecisionBook("machine"), NOW)


def feed(state: Night, *events: SupervisorEvent) -> list[Effect]:
    """Every event through the machine in turn; all their effects, in order."""
    effects: list[Effect] = []
    for event in events:
        _, more = transition(state, event)
        effects.extend(more)
    return effects


def of(effects: list[Effect], kind: type[E]) -> list[E]:
    return [effect for effect in effects if isinstance(effect, kind)]


def where(name: str, phase: str, step: int = 0, epoch: int = 0, time: float = NOW) -> dict[str, Any]:
    return {"specialist": name, "phase": phase, "epoch": epoch, "step": step, "time": time}


def phase_start(name: str, phase: str, now: float = NOW, peak_lr: float = 3e-3, micro_batch: int = 8,
                grad_accum: int = 1, resumed_from: str | None = None) -> Reported:
    event = PhaseStarted(**where(name, phase, time=now), resumed_from=resumed_from, skipped_checkpoints=[],
                         total_steps=12, peak_lr=peak_lr, micro_batch=micro_batch, grad_accum=grad_accum)
    return Reported(now, name, event)


def step(name: str, phase: str, number: int, loss: float = 1.0, now: float = NOW, peak_lr: float = 3e-3,
         lr: float = 1e-4) -> Reported:
    event = StepMetrics(**where(name, phase, step=number, time=now), loss=loss, grad_norm=1.0, lr=lr,
                        peak_lr=peak_lr, micro_batch=8, grad_accum=1, tokens=100, tokens_per_s=10.0,
                        step_time_s=0.1, examples_seen=8 * number, progress=number / 12)
    return Reported(now, name, event)


def skipped(name: str, phase: str, number: int, now: float = NOW) -> Reported:
    event = StepSkipped(**where(name, phase, step=number, time=now + number), reason="loss_spike", value=9.5,
                        median=2.0, robust_z=12.0, z_threshold=8.0, skipped_in_phase=1)
    return Reported(now, name, event)


def evaluation(name: str, phase: str, epoch: int, now: float = NOW, val_loss: float = 1.0) -> Reported:
    event = EpochEval(**where(name, phase, epoch=epoch, time=now), train_loss=1.0, val_loss=val_loss,
                      exact_match=0.0, format_validity=1.0, n_graded=4, per_task={}, samples=[],
                      eval_time_s=0.1)
    return Reported(now, name, event)


def phase_end(name: str, phase: str, status: str = "completed", now: float = NOW) -> Reported:
    event = PhaseEnded(**where(name, phase, time=now), status=status, reason="done")  # type: ignore[arg-type]
    return Reported(now, name, event)


def finished(name: str, now: float = NOW, status: str = "completed") -> TrainerDone:
    """train() of the night's phases returned."""
    return TrainerDone(now, name, ok=True, result={"status": status, "best_checkpoint": None})
