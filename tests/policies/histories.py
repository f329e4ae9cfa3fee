"""Builders of policy histories for the tests: a fresh specialist, and past interventions made by hand."""

from __future__ import annotations

from policies.decisions import Action, Decision, TrainParams, Trigger
from policies.history import CheckpointInfo, History, PastDecision

PARAMS = TrainParams(lr=2e-4, micro_batch=8, grad_accum=2)


def fresh(params: TrainParams = PARAMS, *, phase: str = "phase2", memory_pressure: list[str] | None = None,
          checkpoints: list[CheckpointInfo] | None = None) -> History:
    return History(specialist="ascii_specialist", phase=phase, params=params,
                   memory_pressure=memory_pressure or [], checkpoints=checkpoints or [])


def restart_after(trigger: Trigger, params: TrainParams = PARAMS) -> Decision:
    """A past restart decision, as a policy would have made it for `trigger`."""
    return Decision(action=Action.RESTART_TRAINER, trigger=trigger, params_before=params, params_after=params,
                    checkpoint="last_good", reason="made by hand for a test")


def with_past(history: History, decisions: list[tuple[str, Decision]]) -> History:
    """`history` with (phase, decision) pairs already taken, in order."""
    pasts = [PastDecision(phase=phase, decision=decision, checkpoints_seen=len(history.checkpoints))
             for phase, decision in decisions]
    return history.model_copy(update={"decisions": [*history.decisions, *pasts]})
