"""Table-driven tests of every bound: minimum LR and micro-batch, intervention caps, crashes, cool-down."""

from __future__ import annotations

import math

import pytest

from policies.decide import decide, halved_lr, shrunk_batch
from policies.decisions import Action, Decision, TrainParams, Trigger
from policies.history import CheckpointInfo, History
from settings.policies import PolicyLimits
from tests.policies.histories import PARAMS, fresh, graded, position, restart_after, with_past

AT_MIN_LR = PARAMS.model_copy(update={"peak_lr": 1e-6})
MICRO_ONE = TrainParams(peak_lr=2e-4, micro_batch=1, grad_accum=16)


def first_non_finite() -> Decision:
    """The phase's first non-finite step, as the policy decides it (roll back, LR kept)."""
    return decide(Trigger.non_finite("loss=nan"), fresh())


def spent(count: int, phase: str = "phase2") -> History:
    """A history with `count` policy interventions (stall restarts) in `phase`."""
    return with_past(fresh(), [(phase, restart_after(Trigger.stall(900)))] * count)


@pytest.mark.parametrize(("trigger", "history", "limits", "reason"), [
    (graded("plateaued", score=62, epoch=0), fresh(AT_MIN_LR), PolicyLimits(),
     "grade D (62/100) at epoch 1; evidence plateaued: plateaued by hand: LR 1e-06 is already at min_lr "
     "1e-06; abort specialist"),
    (graded("regressing"), fresh(AT_MIN_LR), PolicyLimits(), "LR 1e-06 is already at min_lr 1e-06"),
    (graded("unstable"), fresh(AT_MIN_LR), PolicyLimits(), "LR 1e-06 is already at min_lr 1e-06"),
    (Trigger.spikes(3, "x"), fresh(AT_MIN_LR), PolicyLimits(), "LR 1e-06 is already at min_lr 1e-06"),
    (Trigger.non_finite("grad_norm=inf"), with_past(fresh(AT_MIN_LR), [("phase2", first_non_finite())]),
     PolicyLimits(), "LR 1e-06 is already at min_lr"),
    (Trigger.divergence(50.0, 1.0), fresh(AT_MIN_LR), PolicyLimits(), "LR 1e-06 is already at min_lr"),
    (Trigger.oom(), fresh(MICRO_ONE), PolicyLimits(), "micro-batch 1 cannot shrink below min_micro_batch 1"),
    (Trigger.oom(), fresh(PARAMS.model_copy(update={"micro_batch": 6})), PolicyLimits(min_micro_batch=4),
     "micro-batch 6 cannot shrink below min_micro_batch 4"),
    (Trigger.stall(900), spent(8, phase="phase1").in_phase("phase2"), PolicyLimits(),
     "intervention limit spent (8 of max_interventions_per_specialist 8 for ascii_specialist); "
     "restart_trainer not taken"),
    (graded("plateaued"), spent(4), PolicyLimits(),
     "intervention limit spent (4 of max_interventions_per_phase 4 in phase phase2); halve_lr not taken"),
    (Trigger.oom(), spent(2), PolicyLimits(max_interventions_per_phase=2),
     "2 of max_interventions_per_phase 2"),
    (Trigger.non_finite("loss=nan"), fresh(), PolicyLimits(max_interventions_per_specialist=0),
     "0 of max_interventions_per_specialist 0"),
    (Trigger.crash("segfault"), with_past(fresh(), [("phase1", restart_after(Trigger.crash("x")))] * 3),
     PolicyLimits(max_interventions_per_specialist=10), "crash restarts spent (3 of max_crash_restarts 3)"),
], ids=["min-lr-plateau", "min-lr-regression", "min-lr-unstable", "min-lr-spikes", "min-lr-non-finite",
        "min-lr-divergence",
        "min-micro-batch", "min-micro-batch-configured", "per-specialist", "per-phase",
        "per-phase-configured", "zero-budget", "crash-restarts"])
def test_spent_bound_aborts_with_the_numbers(trigger: Trigger, history: History, limits: PolicyLimits,
                                             reason: str) -> None:
    decision = decide(trigger, history, limits)
    assert decision.action is Action.ABORT_SPECIALIST
    assert decision.params_after == decision.params_before == history.params
    assert decision.checkpoint is None
    assert reason in decision.reason, decision.reason
    assert decision.reason.endswith("; abort specialist")


def test_interventions_in_other_phases_do_not_count_for_this_phase() -> None:
    history = spent(4, phase="phase1").in_phase("phase2")
    assert decide(graded("plateaued"), history).action is Action.HALVE_LR


@pytest.mark.parametrize(("trigger", "action"), [
    (Trigger.grade("A", 92), Action.CONTINUE), (graded("improving"), Action.CONTINUE),
    (graded("plateaued", where=position(left=0)), Action.SELECT_BEST),
    (Trigger.stall(10), Action.CONTINUE), (Trigger.divergence(1.0, 0.9), Action.CONTINUE),
])
def test_decisions_that_need_no_intervention_are_not_blocked_by_spent_budgets(trigger: Trigger,
                                                                              action: Action) -> None:
    assert decide(trigger, spent(8)).action is action


def test_user_controls_spend_no_budget_and_are_not_blocked_by_it() -> None:
    history = spent(8)
    decision = decide(Trigger.control(Action.RESTART_TRAINER), history)
    assert decision.action is Action.RESTART_TRAINER
    assert not decision.counts_as_intervention
    assert history.after(decision).interventions() == 8


@pytest.mark.parametrize(("requested", "reason"), [
    (Action.HALVE_LR, "user control halve_lr refused: LR 1e-06 is already at min_lr 1e-06; continue"),
    (Action.SHRINK_BATCH, "user control shrink_batch refused: micro-batch 1 cannot shrink below 1; continue"),
])
def test_user_controls_never_break_the_minimums(requested: Action, reason: str) -> None:
    params = TrainParams(peak_lr=1e-6, micro_batch=1, grad_accum=4)
    decision = decide(Trigger.control(requested), fresh(params))
    assert (decision.action, decision.params_after) == (Action.CONTINUE, params)
    assert decision.reason == reason


def test_an_aborted_specialist_stays_aborted() -> None:
    history = fresh(MICRO_ONE)
    abort = decide(Trigger.oom(step=3), history)
    history = history.after(abort)
    decision = decide(Trigger.grade("A", 99), history)
    assert decision.action is Action.ABORT_SPECIALIST
    assert decision.reason == ("grade A (99/100) at epoch 1: specialist already aborted (out of memory at "
                               "step 3: micro-batch 1 cannot shrink below min_micro_batch 1; abort "
                               "specialist); abort specialist")


@pytest.mark.parametrize(("lr", "expected"), [(2e-4, 1e-4), (1.5e-6, 1e-6), (1e-6, None), (5e-7, None)])
def test_halved_lr_is_floored_at_min_lr(lr: float, expected: float | None) -> None:
    assert halved_lr(lr, PolicyLimits(min_lr=1e-6)) == expected


@pytest.mark.parametrize(("micro", "accum", "min_micro", "expected"), [
    (8, 2, 1, (4, 4)), (6, 1, 1, (3, 2)), (5, 3, 1, (1, 15)), (3, 1, 1, (1, 3)), (12, 1, 4, (6, 2)),
    (2, 8, 1, (1, 16)), (1, 8, 1, None), (12, 1, 8, None),
])
def test_shrunk_batch_keeps_the_effective_batch(micro: int, accum: int, min_micro: int,
                                               expected: tuple[int, int] | None) -> None:
    params = TrainParams(peak_lr=1e-4, micro_batch=micro, grad_accum=accum)
    smaller = shrunk_batch(params, PolicyLimits(min_micro_batch=min_micro))
    if expected is None:
        assert smaller is None
        return
    assert smaller is not None
    assert (smaller.micro_batch, smaller.grad_accum) == expected
    assert smaller.effective_batch == params.effective_batch


def halved_once(checkpoints: list[CheckpointInfo]) -> History:
    """A history where the LR was halved for a grade D after `checkpoints`."""
    history = fresh(checkpoints=checkpoints)
    return history.after(decide(graded("plateaued", score=65, step=100, epoch=2), history))


CKPT_BEFORE = CheckpointInfo(step=90, epoch=3, val_loss=0.80)


@pytest.mark.parametrize(("later_checkpoints", "trigger", "action", "lr_after", "reason"), [
    ([], graded("plateaued"), Action.FLAG_FOR_REVIEW, 1e-4,
     "LR 0.0001 not halved (cool-down: LR was halved to 0.0001 at step 100 and no checkpoint has been saved "
     "since); flagged for review"),
    ([CheckpointInfo(step=110, epoch=4, val_loss=0.85)], graded("plateaued"), Action.FLAG_FOR_REVIEW, 1e-4,
     "no checkpoint since shows recovery (best val loss 0.85 > 0.8 before it)"),
    ([CheckpointInfo(step=110, epoch=4, val_loss=math.nan)], graded("plateaued"), Action.FLAG_FOR_REVIEW,
     1e-4, "no checkpoint has been saved since"),
    ([], graded("regressing"), Action.ROLLBACK, 1e-4,
     "roll back to the best checkpoint; LR 0.0001 kept (cool-down: LR was halved"),
    ([], Trigger.spikes(3, "x"), Action.FLAG_FOR_REVIEW, 1e-4, "LR 0.0001 not halved (cool-down"),
    ([CheckpointInfo(step=110, epoch=4, val_loss=0.79)], graded("plateaued"), Action.HALVE_LR, 5e-5,
     "halve LR 0.0001 -> 5e-05"),
    ([CheckpointInfo(step=110, epoch=4, val_loss=0.80)], Trigger.spikes(3, "x"), Action.HALVE_LR, 5e-5,
     "halve LR 0.0001 -> 5e-05"),
], ids=["no-checkpoint-since", "checkpoint-worse", "checkpoint-non-finite", "grade-F-rolls-back-only",
        "spikes-flag-only", "recovered", "recovered-equal"])
def test_cooldown(later_checkpoints: list[CheckpointInfo], trigger: Trigger, action: Action, lr_after: float,
                  reason: str) -> None:
    history = halved_once([CKPT_BEFORE])
    for checkpoint in later_checkpoints:
        history = history.with_checkpoint(checkpoint)
    decision = decide(trigger, history)
    assert decision.action is action
    assert decision.params_after.peak_lr == pytest.approx(lr_after)
    assert reason in decision.reason, decision.reason


def test_cooldown_tolerance_comes_from_the_limits() -> None:
    history = halved_once([CKPT_BEFORE]).with_checkpoint(CheckpointInfo(step=110, epoch=4, val_loss=0.83))
    assert decide(graded("plateaued"), history).action is Action.FLAG_FOR_REVIEW
    tolerant = PolicyLimits(recovery_tolerance=0.05)
    assert decide(graded("plateaued"), history, tolerant).action is Action.HALVE_LR


def test_cooldown_orders_by_checkpoints_not_steps_so_a_rollback_does_not_confuse_it() -> None:
    # The rollback rewinds steps: the recovered checkpoint has a smaller step than the halving.
    history = halved_once([CKPT_BEFORE]).with_checkpoint(CheckpointInfo(step=95, epoch=3, val_loss=0.7))
    assert decide(graded("plateaued"), history).action is Action.HALVE_LR


def test_without_any_checkpoint_before_the_halving_any_finite_checkpoint_shows_recovery() -> None:
    history = halved_once([]).with_checkpoint(CheckpointInfo(step=120, epoch=5, val_loss=3.0))
    assert decide(graded("plateaued"), history).action is Action.HALVE_LR


def test_a_second_non_finite_step_in_the_cool_down_rolls_back_without_halving() -> None:
    history = with_past(halved_once([CKPT_BEFORE]), [("phase2", first_non_finite())])
    decision = decide(Trigger.non_finite("loss=nan"), history)
    assert (decision.action, decision.params_after.peak_lr) == (Action.ROLLBACK, 1e-4)
    assert "roll back to the last good checkpoint; LR 0.0001 kept (cool-down" in decision.reason
