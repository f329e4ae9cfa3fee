"""Builders for the policy tests: a fresh specialist, past decisions made by hand, graded evidence."""

from __future__ import annotations

from agents.evidence_model import Evidence, Verdict
from policies.decisions import Action, Decision, PhasePosition, TrainParams, Trigger
from policies.history import CheckpointInfo, History, PastDecision

PARAMS = TrainParams(peak_lr=2e-4, micro_batch=8, grad_accum=2)


def fresh(params: TrainParams = PARAMS, *, phase: str = "phase2",
          checkpoints: list[CheckpointInfo] | None = None) -> History:
    return History(specialist="ascii_specialist", phase=phase, params=params, checkpoints=checkpoints or [])


def restart_after(trigger: Trigger, params: TrainParams = PARAMS) -> Decision:
    """A past restart decision, as a policy would have made it for `trigger`."""
    return Decision(action=Action.RESTART_TRAINER, trigger=trigger, params_before=params, params_after=params,
                    checkpoint="last_good", reason="made by hand for a test")


def with_past(history: History, decisions: list[tuple[str, Decision]]) -> History:
    """`history` with (phase, decision) pairs already taken, in order."""
    pasts = [PastDecision(phase=phase, decision=decision, checkpoints_seen=len(history.checkpoints))
             for phase, decision in decisions]
    return history.model_copy(update={"decisions": [*history.decisions, *pasts]})


def evidence(verdict: Verdict, beyond_doubt: bool = False) -> Evidence:
    return Evidence(verdict=verdict, reasons=[f"{verdict} by hand"], evaluations=4,
                    plateau_beyond_doubt=beyond_doubt)


def position(planned: int = 6, left: int = 2, per_epoch: float | None = 60.0,
             seconds_left: float | None = None) -> PhasePosition:
    return PhasePosition(epochs_planned=planned, evaluations_left=left, seconds_per_epoch=per_epoch,
                         seconds_left=seconds_left)


def graded(verdict: Verdict, *, letter: str = "D", score: float = 64, epoch: int = 3, step: int = 0,
           beyond_doubt: bool = False, where: PhasePosition | None = None) -> Trigger:
    """A grade trigger carrying evidence with `verdict`, in the middle of a phase unless `where` says."""
    return Trigger.grade(letter, score, step=step, epoch=epoch,  # type: ignore[arg-type]
                         evidence=evidence(verdict, beyond_doubt), position=where or position())
