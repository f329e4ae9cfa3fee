"""Table-driven tests of `decide`: one row per rule of the policy table, on a fresh specialist; every
threshold has a row at its exact boundary."""

from __future__ import annotations

import math

import pytest

from policies.decide import decide
from policies.decisions import Action, TrainParams, Trigger
from policies.history import History
from settings.policies import PolicyLimits
from tests.policies.histories import PARAMS, fresh, graded, position

HALVED = PARAMS.model_copy(update={"peak_lr": 1e-4})
SHRUNK = PARAMS.model_copy(update={"micro_batch": 4, "grad_accum": 4})
EVIDENCE = "grade D (64/100) at epoch 4; evidence"
AFTER_ONE_NON_FINITE = fresh().after(decide(Trigger.non_finite("loss=nan", step=120), fresh()))
"""A phase that already rolled back once for a non-finite step."""


@pytest.mark.parametrize(("trigger", "history", "action", "after", "checkpoint", "reason"), [
    (Trigger.grade("A", 95, epoch=3), fresh(), Action.CONTINUE, PARAMS, None,
     "grade A (95/100) at epoch 4: no evidence with the grade, and a letter alone never intervenes; "
     "continue"),
    (Trigger.grade("F", 41, epoch=3), fresh(), Action.CONTINUE, PARAMS, None,
     "grade F (41/100) at epoch 4: no evidence with the grade"),
    (graded("improving", letter="F", score=41), fresh(), Action.CONTINUE, PARAMS, None,
     "grade F (41/100) at epoch 4; evidence improving: improving by hand: continue"),
    (graded("inconclusive"), fresh(), Action.CONTINUE, PARAMS, None,
     f"{EVIDENCE} inconclusive: inconclusive by hand: continue"),
    (graded("plateaued"), fresh(), Action.HALVE_LR, HALVED, None,
     f"{EVIDENCE} plateaued: plateaued by hand: halve LR 0.0002 -> 0.0001"),
    (graded("plateaued", beyond_doubt=True), fresh(), Action.STOP_EARLY,
     PARAMS.model_copy(update={"epochs": 4}), None,
     f"{EVIDENCE} plateaued: plateaued by hand: plateau beyond doubt; stop the phase after 4 epoch(s) "
     "(planned 6)"),
    (graded("unstable"), fresh(), Action.HALVE_LR, HALVED, None,
     f"{EVIDENCE} unstable: unstable by hand: halve LR 0.0002 -> 0.0001"),
    (graded("regressing"), fresh(), Action.ROLLBACK, HALVED, "best",
     f"{EVIDENCE} regressing: regressing by hand: roll back to the best checkpoint and halve LR 0.0002 -> "
     "0.0001"),
    (graded("regressing", where=position(left=0)), fresh(), Action.SELECT_BEST, PARAMS, "best",
     f"{EVIDENCE} regressing: regressing by hand: the phase's last evaluation, nothing left to train; "
     "select its best checkpoint by val exact match"),
    (graded("improving", where=position(left=1)), fresh(), Action.EXTEND_PHASE,
     PARAMS.model_copy(update={"epochs": 8}), None,
     f"{EVIDENCE} improving: improving by hand: still improving as the phase ends; extend it by 2 epoch(s), "
     "6 -> 8 (0 of max_extra_epochs 2 used)"),
    (Trigger.spikes(3, "loss 9.1", step=40), fresh(), Action.HALVE_LR, HALVED, None,
     "3 step(s) skipped as spikes by step 40 (loss 9.1) (>= spike_skips 3 within 50 steps): halve LR"),
    (Trigger.spikes(2, "loss 9.1", step=40), fresh(), Action.CONTINUE, PARAMS, None,
     "2 step(s) skipped as spikes by step 40 (loss 9.1): fewer than spike_skips 3 within "
     "spike_window_steps 50; continue"),
    (Trigger.non_finite("loss=nan", step=120), fresh(), Action.ROLLBACK, PARAMS, "last_good",
     "non-finite loss or gradient at step 120 (loss=nan): the phase's first non-finite step; roll back to "
     "the last good checkpoint, LR 0.0002 kept (a second one halves it)"),
    (Trigger.non_finite("loss=nan", step=130), AFTER_ONE_NON_FINITE, Action.ROLLBACK, HALVED, "last_good",
     "non-finite loss or gradient at step 130 (loss=nan) (non-finite step 2 of the phase): roll back to the "
     "last good checkpoint and halve LR 0.0002 -> 0.0001"),
    (Trigger.non_finite("loss=nan", step=130), AFTER_ONE_NON_FINITE.in_phase("phase3"), Action.ROLLBACK,
     PARAMS, "last_good", "non-finite loss or gradient at step 130 (loss=nan): the phase's first non-finite "
     "step; roll back to the last good checkpoint, LR 0.0002 kept"),
    (Trigger.divergence(9.5, 3.0, step=80), fresh(), Action.ROLLBACK, HALVED, "last_good",
     "loss 9.5 at step 80 against window best 3: roll back to the last good checkpoint and halve LR"),
    (Trigger.divergence(math.inf, 3.0, step=80), fresh(), Action.ROLLBACK, HALVED, "last_good",
     "loss inf at step 80 against window best 3: roll back"),
    (Trigger.divergence(9.0, 3.0, step=80), fresh(), Action.CONTINUE, PARAMS, None,
     "loss 9 at step 80 against window best 3: within divergence_k 3 x best; continue"),
    (Trigger.divergence(9.000001, 3.0, step=80), fresh(), Action.ROLLBACK, HALVED, "last_good",
     "loss 9 at step 80 against window best 3: roll back"),
    (Trigger.oom("CUDA out of memory", step=7), fresh(), Action.SHRINK_BATCH, SHRUNK, "last_good",
     "out of memory at step 7 (CUDA out of memory): shrink micro-batch 8 -> 4, grad accum 2 -> 4 (effective "
     "batch 16 kept); resume from the last good checkpoint"),
    (Trigger.stall(600, step=9), fresh(), Action.RESTART_TRAINER, PARAMS, "last_good",
     "no heartbeat for 600s at step 9 (stall_seconds 600): restart the trainer from the last good "
     "checkpoint"),
    (Trigger.stall(599.999, step=9), fresh(), Action.CONTINUE, PARAMS, None,
     "no heartbeat for 600s at step 9: within stall_seconds 600; continue"),
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
], ids=["letter-A-alone", "letter-F-alone", "improving-F", "inconclusive", "plateaued",
        "plateau-beyond-doubt", "unstable", "regressing", "last-evaluation", "improving-at-the-end", "spikes",
        "spikes-below", "non-finite-first-in-phase", "non-finite-second-in-phase",
        "non-finite-first-in-next-phase",
        "divergence", "divergence-inf", "at-divergence-k", "just-above-divergence-k", "oom",
        "stall-at-stall-seconds", "heartbeat-just-within-limit",
        "crash", "checkpoint-failed",
        "control-skip-phase", "control-abort", "control-flag", "control-halve", "control-shrink",
        "control-rollback", "control-restart"])
def test_decision_per_trigger(trigger: Trigger, history: History, action: Action, after: TrainParams,
                              checkpoint: str | None, reason: str) -> None:
    decision = decide(trigger, history, PolicyLimits())
    assert decision.action is action
    # Only decisions that change the phase's epochs record them.
    assert decision.params_before == PARAMS.model_copy(update={"epochs": decision.params_before.epochs})
    assert (decision.params_before.epochs is None) == (after.epochs is None)
    assert decision.params_after == after
    assert decision.checkpoint == checkpoint
    assert decision.reason.startswith(reason), decision.reason
    assert decision.trigger == trigger


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
    decide(graded("regressing"), history)
    assert history.model_dump() == before


def test_default_limits_are_used_when_none_are_given() -> None:
    assert decide(graded("plateaued"), fresh()).params_after.peak_lr == pytest.approx(1e-4)


def test_an_epoch_already_acted_on_is_not_acted_on_again() -> None:
    history = fresh()
    history = history.after(decide(graded("regressing", epoch=3), history))
    again = decide(graded("regressing", epoch=3), history)
    assert again.action is Action.CONTINUE
    assert again.reason.endswith("epoch 4 was already acted on (rollback); not acted on again; continue")
    # A passive decision did not act: the epoch may still be acted on.
    history = fresh().after(decide(graded("improving", epoch=3), fresh()))
    assert decide(graded("regressing", epoch=3), history).action is Action.ROLLBACK
    # Another epoch is new evidence.
    assert decide(graded("plateaued", epoch=5), history).action is Action.HALVE_LR


@pytest.mark.parametrize(("seconds_left", "per_epoch", "used", "action", "epochs_after"), [
    (120.0, 60.0, 0, Action.EXTEND_PHASE, 8),
    (119.9, 60.0, 0, Action.EXTEND_PHASE, 7),
    (59.9, 60.0, 0, Action.CONTINUE, None),
    (None, None, 0, Action.EXTEND_PHASE, 8),
    (10_000.0, None, 0, Action.CONTINUE, None),
    (None, None, 1, Action.EXTEND_PHASE, 7),
    (None, None, 2, Action.CONTINUE, None),
], ids=["two-epochs-fit-exactly", "one-fits", "none-fits", "no-deadline", "no-epoch-time-yet",
        "one-left-of-max_extra_epochs", "max_extra_epochs-spent"])
def test_an_extension_fits_max_extra_epochs_and_the_deadline(
    seconds_left: float | None, per_epoch: float | None, used: int, action: Action, epochs_after: int | None
) -> None:
    history = fresh()
    if used:  # an earlier extension of this phase by `used` epochs
        earlier = graded("improving", epoch=1, where=position(planned=6 - used, left=1))
        history = history.after(decide(earlier, history, PolicyLimits(max_extra_epochs=used)))
        assert history.extra_epochs() == used
    where = position(planned=6, left=1, per_epoch=per_epoch, seconds_left=seconds_left)
    decision = decide(graded("improving", where=where), history, PolicyLimits(max_extra_epochs=2))
    assert decision.action is action, decision.reason
    if epochs_after is None:
        assert decision.params_after == decision.params_before == history.params
    else:
        assert (decision.params_before.epochs, decision.params_after.epochs) == (6, epochs_after)
