"""Tests of the policy data models: triggers need their numbers, parameters and limits reject bad values."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from policies.decisions import Action, Decision, TrainParams, Trigger, TriggerKind
from settings.policies import PolicyLimits
from tests.policies.histories import PARAMS


@pytest.mark.parametrize(("kind", "missing"), [
    (TriggerKind.GRADE, "letter, score"),
    (TriggerKind.DIVERGENCE, "loss, best_loss"),
    (TriggerKind.STALL, "seconds_since_heartbeat"),
    (TriggerKind.CONTROL, "requested"),
])
def test_trigger_needs_the_numbers_of_its_kind(kind: TriggerKind, missing: str) -> None:
    with pytest.raises(ValidationError, match=f"a '{kind.value}' trigger needs {missing}"):
        Trigger(kind=kind)


def test_trigger_rejects_unknown_keys_and_bad_scores() -> None:
    with pytest.raises(ValidationError, match="lettre"):
        Trigger(kind=TriggerKind.GRADE, lettre="A", score=90)
    with pytest.raises(ValidationError, match="score"):
        Trigger.grade("A", 190)


def test_trigger_round_trips_through_json() -> None:
    trigger = Trigger.divergence(math.inf, 2.0, step=5, epoch=1)
    assert Trigger.model_validate_json(trigger.model_dump_json()).best_loss == 2.0


@pytest.mark.parametrize(("values", "message"), [
    ({"peak_lr": 0.0, "micro_batch": 1, "grad_accum": 1}, "peak_lr"),
    ({"peak_lr": math.inf, "micro_batch": 1, "grad_accum": 1}, "peak_lr must be finite, got inf"),
    ({"peak_lr": 1e-4, "micro_batch": 0, "grad_accum": 1}, "micro_batch"),
    ({"peak_lr": 1e-4, "micro_batch": 1, "grad_accum": 0}, "grad_accum"),
])
def test_train_params_reject_bad_values(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainParams(**values)


def test_limits_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="max_interventions"):
        PolicyLimits(max_interventions=3)
    with pytest.raises(ValidationError, match="min_micro_batch"):
        PolicyLimits(min_micro_batch=0)
    with pytest.raises(ValidationError, match="divergence_k"):
        PolicyLimits(divergence_k=1.0)


@pytest.mark.parametrize(("action", "kind", "counts"), [
    (Action.HALVE_LR, TriggerKind.GRADE, True),
    (Action.RESTART_TRAINER, TriggerKind.CRASH, True),
    (Action.CONTINUE, TriggerKind.GRADE, False),
    (Action.ABORT_SPECIALIST, TriggerKind.OOM, False),
    (Action.RESTART_TRAINER, TriggerKind.CONTROL, False),
])
def test_what_counts_as_an_intervention(action: Action, kind: TriggerKind, counts: bool) -> None:
    trigger = {TriggerKind.GRADE: Trigger.grade("D", 61), TriggerKind.CRASH: Trigger.crash("x"),
               TriggerKind.OOM: Trigger.oom(), TriggerKind.CONTROL: Trigger.control(action)}[kind]
    decision = Decision(action=action, trigger=trigger, params_before=PARAMS, params_after=PARAMS, reason="r")
    assert decision.counts_as_intervention is counts
