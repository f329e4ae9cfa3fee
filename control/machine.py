"""The supervisor as a state machine: `transition(night, event) -> (night, effects)`, with no I/O, clock,
threads or Ray, so every transition is tested as plain data.

The Ray layer (actors/supervisor.py) turns each call into a typed event, calls `transition`, and carries
out the effects in order. What the night does with each event lives in one module per concern:
lifecycle (the plan: start, tick, schedule, crashes, endings), trainer_events (steps, evaluations, faults,
grades), continuous (the inbox and its jobs) and user_controls (`overnight ctl`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from control import continuous, lifecycle, trainer_events, user_controls
from control.effects import Effect
from control.events import (
    ActorStarted,
    Carried,
    ControlRequested,
    FaultReported,
    Graded,
    GradeFailed,
    InboxArrived,
    Reported,
    Start,
    StopRunRequested,
    SupervisorEvent,
    Tick,
    TrainerDone,
)
from control.night import Night, Turn

HANDLERS: dict[type, Callable[[Turn, Any], None]] = {
    Start: lifecycle.on_start,
    Tick: lifecycle.on_tick,
    ActorStarted: lifecycle.on_actor_started,
    TrainerDone: lifecycle.on_trainer_done,
    Reported: trainer_events.on_reported,
    FaultReported: trainer_events.on_fault,
    Graded: trainer_events.on_graded,
    GradeFailed: trainer_events.on_grade_failed,
    InboxArrived: continuous.on_arrival,
    Carried: continuous.on_carried,
    ControlRequested: user_controls.on_control,
    StopRunRequested: user_controls.on_stop_run,
}
"""Event type -> the transition that handles it."""


def transition(night: Night, event: SupervisorEvent) -> tuple[Night, list[Effect]]:
    """The night after `event`, and what the world must do about it, in order. `night` is updated in
    place (a step event arrives per optimizer step; copying the night each time would cost the trainers),
    so a caller keeps no other reference to the old one. A refused user control raises
    ControlRequestError before anything changes."""
    turn = Turn(night, event.now)
    HANDLERS[type(event)](turn, event)
    return night, turn.effects
