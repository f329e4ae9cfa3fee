"""What the supervisor puts around a graded window: its evidence, allowed actions, phase position, records."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from agents.evidence import assess
from agents.grade import Grade
from agents.metrics import MetricWindow
from control.decision_book import DecisionBook, as_decision
from control.run_state import SpecialistState
from control.tracker import SpecialistTracker
from policies.decide import halved_lr
from policies.decision_log import DecisionRecord
from policies.decisions import Action, TrainParams
from policies.history import History, PastDecision
from settings.policies import PolicyLimits
from settings.recipe import FOUNDATION, RecipeConfig

PHASE_EPOCH_ACTIONS = frozenset({Action.STOP_EARLY, Action.EXTEND_PHASE})
"""Decisions that change how many epochs a phase trains."""


class PhaseSettings(NamedTuple):
    epochs: int
    """As configured (1 for a phase the config does not name)."""
    eval_every: int


def phase_settings(config: RecipeConfig, name: str, phase: str) -> PhaseSettings:
    """The configured epochs and evaluation cadence of `name`'s `phase`."""
    item: Any = config.foundation if name == FOUNDATION else next(
        (p for p in config.specialists[name].phases if p.name == phase), None)
    if item is None:
        return PhaseSettings(1, config.training.eval_every_epochs)
    return PhaseSettings(item.epochs, config.settings_for(item).eval_every_epochs)


def configured_params(config: RecipeConfig, name: str, phase: str | None) -> TrainParams:
    """The parameters `name`'s `phase` is configured to start with (its first phase when None; the training
    defaults for a name or phase the config does not know, such as a job's)."""
    item: Any = None
    if name == FOUNDATION:
        item = config.foundation
    elif name in config.specialists:
        phases = config.specialists[name].phases
        item = phases[0] if phase is None else next((p for p in phases if p.name == phase), None)
    settings = config.settings_for(item) if item is not None else config.training
    return TrainParams(peak_lr=settings.learning_rate, micro_batch=settings.micro_batch_size,
                       grad_accum=settings.grad_accum_steps)


def evaluations_left(epoch: int, epochs_planned: int, eval_every: int) -> int:
    """Evaluations the recipe will run after the one of 0-based `epoch`: every `eval_every` epochs, and
    always after the last (training.loop's schedule)."""
    later = range(epoch + 1, epochs_planned)
    return sum(1 for e in later if (e + 1) % eval_every == 0 or e + 1 == epochs_planned)


def planned_epochs(records: Iterable[DecisionRecord], phase: str, configured: int) -> int:
    """The epochs `phase` trains now: the configured ones, unless a stop-early or extend decision that
    acted (in `records`, oldest first) set them since."""
    planned = configured
    for record in records:
        if record.phase == phase and record.action in PHASE_EPOCH_ACTIONS and record.params_after.epochs:
            planned = record.params_after.epochs
    return planned


def allowed_actions(history: History, limits: PolicyLimits, last_evaluation: bool) -> list[str]:
    """The grade actions the policies could still take for this specialist (the LLM recommends among them)."""
    if history.abort() is not None:
        return [Action.ABORT_SPECIALIST.value]
    if last_evaluation:
        return [Action.SELECT_BEST.value]
    actions = [Action.CONTINUE, Action.FLAG_FOR_REVIEW]
    budget = min(limits.max_interventions_per_specialist - history.interventions(),
                 limits.max_interventions_per_phase - history.interventions(history.phase))
    if budget > 0 and halved_lr(history.params.peak_lr, limits) is not None:
        if not history.lr_cooldown(limits.recovery_tolerance):
            actions.append(Action.HALVE_LR)
        actions.append(Action.ROLLBACK)
    actions.append(Action.STOP_EARLY)
    if history.extra_epochs() < limits.max_extra_epochs:
        actions.append(Action.EXTEND_PHASE)
    return [action.value for action in actions]


def with_evidence(window: MetricWindow, history: History, limits: PolicyLimits,
                  last_evaluation: bool) -> MetricWindow:
    """`window` carrying its evidence and the actions allowed now, for the graders and the decision."""
    return window.model_copy(update={
        "evidence": assess(window, limits.evidence),
        "allowed_actions": allowed_actions(history, limits, last_evaluation),
    })


def seconds_left(started_at: float, night_hours: float | None, now: float | None = None) -> float | None:
    """Seconds until the night's deadline (`night_hours` after `started_at`); None without a deadline."""
    if night_hours is None:
        return None
    return started_at + night_hours * 3600 - (time.time() if now is None else now)


def grade_line(grade: Grade, window: MetricWindow, step: int, now: float | None = None) -> dict[str, Any]:
    """The grade's line in events/<name>.jsonl: score and letter, with every component's points, measured
    numbers and reason, and the evidence the decision was taken on."""
    last = window.epochs[-1]
    return {
        "type": "grade",
        "time": time.time() if now is None else now,
        "phase": window.phase,
        "epoch": last.epoch,
        "step": step,
        "score": grade.score,
        "letter": grade.letter,
        "source": grade.source,
        "fallback_reason": grade.fallback_reason,
        "components": [component.model_dump(mode="json") for component in grade.components],
        "recommendation": grade.recommendation,
        "evidence": window.evidence.model_dump(mode="json") if window.evidence else None,
    }


def history_of(name: str, tracker: SpecialistTracker, spec: SpecialistState, book: DecisionBook,
               params: TrainParams) -> History:
    """What the policies know about `name`: its parameters, the decisions that acted, its checkpoints."""
    current_phase = tracker.phase or spec.phase
    # A decision from before a supervisor restart counts as seeing every checkpoint: the cool-down holds.
    past = [
        PastDecision(
            phase=record.phase,
            decision=as_decision(record),
            checkpoints_seen=book.checkpoints_seen.get(
                decision_id, len(tracker.checkpoints) if record.phase == current_phase else 0
            ),
        )
        for decision_id, record in book.applied(name)
        if spec.job is None or record.phase == spec.job
    ]
    return History(specialist=name, phase=tracker.phase or spec.phase or "main", params=params,
                   decisions=past, checkpoints=list(tracker.checkpoints))
