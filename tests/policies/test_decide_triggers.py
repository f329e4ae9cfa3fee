"""Table-driven tests of `decide`: one row per trigger of the issue's table, on a fresh specialist."""

from __future__ import annotations

import math

import pytest

from policies.decide import decide
from policies.decisions import Action, TrainParams, Trigger
from policies.history import History
from policies.limits import PolicyLimits
from tests.policies.histories import PARAMS, fresh

HALVED = PARAMS.model_copy(update={"lr": 1e-4})
SHRUNK = PARAMS.model_copy(update={"micro_batch": 4, "grad_accum": 4})
PRESSURED = fresh(memory_pressure=["GPU memory 95% at step 40"])


@pytest.mark.parametrize(("trigger", "history", "action", "after", "checkpoint", "reason"), [
    (Trigger.grade("A", 95, epoch=3), fresh(), Action.CONTINUE, PARAMS, None,
     "grade A (95/100) at epoch 4: continue"),
    (Trigger.grade("B", 80, epoch=3), fresh(), Action.CONTINUE, PARAMS, None,
     "grade B (80/100) at epoch 4: continue"),
    (Trigger.grade("C", 72, epoch=3), fresh(), Action.FLAG_FOR_REVIEW, PARAMS, None,
     "grade C (72/100) at epoch 4: continue, flagged for review"),
    (Trigger.grade("D", 64, epoch=3), fresh(), Action.HALVE_LR, HALVED, None,
     "grade D (64/100) at epoch 4: halve LR 0.0002 -> 0.0001"),
    (Trigger.grade("D", 64, epoch=3), PRESSURED, Action.SHRINK_BATCH, SHRUNK, None,
     "grade D (64/100) at epoch 4 under memory pressure (GPU memory 95% at step 40): shrink micro-batch "
     "8 -> 4, grad accum 2 -> 4 (effective batch 16 kept)"),
    (Trigger.grade("F", 41, epoch=3), fresh(), Action.ROLLBACK, HALVED, "best",
     "grade F (41/100) at epoch 4: roll back to the best checkpoint and halve LR 0.0002 -> 0.0001"),
    (Trigger.non_finite("loss=nan", step=120), fresh(), Action.ROLLBACK, HALVED, "last_good",
     "non-finite loss or gradient at step 120 (loss=nan): roll back to the last good checkpoint and halve LR "
     "0.0002 -> 0.0001"),
    (Trigger.divergence(9.5, 3.0, step=80), fresh(), Action.ROLLBACK, HALVED, "last_good",
     "loss 9.5 at step 80 against window best 3: roll back to the last good checkpoint and halve LR"),
    (Trigger.divergence(math.inf, 3.0, step=80), fresh(), Action.ROLLBACK, HALVED, "last_good",
     "loss inf at step 80 against window best 3: roll back"),
    (Trigger.divergence(8.9, 3.0, step=80), fresh(), Action.CONTINUE, PARAMS, None,
     "loss 8.9 at step 80 against window best 3: within divergence_k 3 x best; continue"),
    (Trigger.oom("CUDA out of memory", step=7), fresh(), Action.SHRINK_BATCH, SHRUNK, "last_good",
     "out of memory at step 7 (CUDA out of memory): shrink micro-batch 8 -> 4, grad accum 2 -> 4 (effective "
     "batch 16 kept); resume from the last good checkpoint"),
    (Trigger.stall(601, step=9), fresh(), Action.RESTART_TRAINER, PARAMS, "last_good",
     "no heartbeat for 601s at step 9 (stall_seconds 600): restart the trainer from the last good "
     "checkpoint"),
    (Trigger.stall(599, step=9), fresh(), Action.CONTINUE, PARAMS, None,
     "no heartbeat for 599s at step 9: within stall_seconds 600; continue"),
    (Trigger.crash("RuntimeError: CUDA error", step=3), fresh(), Action.RESTART_TRAINER, PARAMS, "last_good",
     "trainer crashed at step 3 (RuntimeError: CUDA error): restart 1 of 3 from the last good checkpoint"),
    (Trigger.checkpoint_failed("OSError: [Errno 28] No space left on device", step=30), fresh(),
     Action.CONTINUE, PARAMS, None,
     "checkpoint write failed at step 30 (OSError: [Errno 28] No space left on device): the previous "
     "checkpoint is intact; continue"),
    (Trigger.control(Action.SKIP_PHASE, "operator"), fresh(), Action.SKIP_PHASE, PARAMS, None,
     "user control skip_phase (operator): skip_phase as requested"),
    (Trigger.control(Action.ABORT_SPECIALIST), fresh(), Action.ABORT_SPECIALIST, PARAMS, None,
     "user control abort_specialist: abort_specialist as requested"),
    (Trigger.control(Action.FLAG_FOR_REVIEW), fresh(), Action.FLAG_FOR_REVIEW, PARAMS, None,
     "user control flag_for_review: flag_for_review as requested"),
    (Trigger.control(Action.HALVE_LR), fresh(), Action.HALVE_LR, HALVED, None,
     "user control halve_lr: halve LR 0.0002 -> 0.0001"),
    (Trigger.control(Action.SHRINK_BATCH), fresh(), Action.SHRINK_BATCH, SHRUNK, "last_good",
     "user control shrink_batch: shrink micro-batch 8 -> 4"),
    (Trigger.control(Action.ROLLBACK), fresh(), Action.ROLLBACK, PARAMS, "last_good",
     "user control rollback: rollback from the last good checkpoint"),
    (Trigger.control(Action.RESTART_TRAINER), fresh(), Action.RESTART_TRAINER, PARAMS, "last_good",
     "user control restart_trainer: restart_trainer from the last good checkpoint"),
], ids=["grade-A", "grade-B", "grade-C", "grade-D", "grade-D-memory-pressure", "grade-F", "non-finite",
        "divergence", "divergence-inf", "below-divergence-k", "oom", "stall", "heartbeat-within-limit",
        "crash", "checkpoint-failed",
        "control-skip-phase", "control-abort", "control-flag", "control-halve", "control-shrink",
        "control-rollback", "control-restart"])
def test_decision_per_trigger(trigger: Trigger, history: History, action: Action, after: TrainParams,
                              checkpoint: str | None, reason: str) -> None:
    decision = decide(trigger, history, PolicyLimits())
    assert decision.action is action
    assert decision.params_before == PARAMS
    assert decision.params_after == after
    assert decision.checkpoint == checkpoint
    assert decision.reason.startswith(reason), decision.reason
    assert decision.trigger == trigger


def test_an_oom_already_handled_in_the_phase_counts_as_memory_pressure() -> None:
    history = fresh()
    history = history.after(decide(Trigger.oom(step=5), history))
    decision = decide(Trigger.grade("D", 61), history)
    assert decision.action is Action.SHRINK_BATCH
    assert "under memory pressure (OOM at step 5)" in decision.reason
    assert decision.params_after.effective_batch == PARAMS.effective_batch


def test_memory_pressure_does_not_carry_into_the_next_phase() -> None:
    history = fresh(memory_pressure=["GPU memory 97%"]).in_phase("phase3")
    assert decide(Trigger.grade("D", 61), history).action is Action.HALVE_LR


def test_divergence_k_comes_from_the_limits() -> None:
    trigger = Trigger.divergence(5.0, 2.0)
    assert decide(trigger, fresh(), PolicyLimits(divergence_k=2.0)).action is Action.ROLLBACK
    assert decide(trigger, fresh(), PolicyLimits(divergence_k=3.0)).action is Action.CONTINUE


def test_stall_seconds_come_from_the_limits() -> None:
    decision = decide(Trigger.stall(120), fresh(), PolicyLimits(stall_seconds=60))
    assert decision.action is Action.RESTART_TRAINER


def test_decide_is_pure() -> None:
    history = fresh()
    before = history.model_dump()
    decide(Trigger.grade("F", 10), history)
    assert history.model_dump() == before


def test_default_limits_are_used_when_none_are_given() -> None:
    assert decide(Trigger.grade("D", 61), fresh()).params_after.lr == pytest.approx(1e-4)
