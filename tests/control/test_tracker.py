"""The supervisor's per-specialist bookkeeping: divergence on smoothed losses, grading windows."""

from __future__ import annotations

import pytest

from control.tracker import SpecialistTracker
from policies.decisions import TrainParams
from tests.control.machine_fixtures import step, where
from training.events import CheckpointSaved, EpochEval, StepMetrics


def stepped(number: int, loss: float) -> StepMetrics:
    event = step("ascii", "main", number, loss=loss).event
    assert isinstance(event, StepMetrics)
    return event


def evaluated(epoch: int, val_loss: float, exact: float = 0.5) -> EpochEval:
    scores = {"exact_match": exact, "format_validity": 0.9, "n_graded": 96}
    return EpochEval(**where("ascii", "main", epoch=epoch), train_loss=None, val_loss=val_loss, **scores,
                     per_task={}, samples=[], eval_time_s=0.1)


def tracker_with(losses: list[float]) -> SpecialistTracker:
    tracker = SpecialistTracker("ascii")
    tracker.start_phase("main")
    for number, loss in enumerate(losses, start=1):
        tracker.on_step(stepped(number, loss))
    return tracker


def test_one_spiking_batch_is_not_divergence() -> None:
    # A batch of long examples at 3x the best step: noise of length bucketing, not a diverging run.
    losses = [1.0, 0.8, 0.7, 0.7, 0.69, 0.7, 0.72, 0.7] * 3 + [2.1]
    assert tracker_with(losses).diverged(k=3.0, min_steps=10) is None


def test_a_sustained_rise_is_divergence_with_the_means_behind_it() -> None:
    losses = [0.7] * 16 + [3.0] * 8
    diverged = tracker_with(losses).diverged(k=3.0, min_steps=10)
    assert diverged is not None
    recent, best = diverged
    assert recent == pytest.approx(3.0) and best == pytest.approx(0.7)


def test_no_verdict_before_enough_steps_and_none_after_a_rollback() -> None:
    tracker = tracker_with([0.7] * 8 + [9.0] * 4)
    assert tracker.diverged(k=3.0, min_steps=10) is None  # fewer than two smoothing windows
    tracker = tracker_with([0.7] * 16 + [3.0] * 8)
    tracker.on_rollback()
    assert tracker.diverged(k=3.0, min_steps=10) is None


def test_the_grading_window_is_taken_once() -> None:
    tracker = tracker_with([1.0, 0.9])
    tracker.on_epoch(evaluated(0, 0.8))
    window = tracker.take_window()
    assert window is not None and window.step_losses == [1.0, 0.9] and window.epochs[0].exact_match == 0.5
    assert window.step_grad_norms == [1.0, 1.0]  # the step fixture's gradient norm
    assert tracker.take_window() is None


@pytest.mark.parametrize(("last", "diverged"), [(3.0, False), (3.0 + 2**-20, True)],
                         ids=["mean-at-k-times-best", "mean-just-above"])
def test_divergence_is_a_mean_above_k_times_the_best(last: float, diverged: bool) -> None:
    # Best mean 1.0 (the first eight steps); the last eight steps average `last`: k = 3 is the boundary.
    assert (tracker_with([1.0] * 8 + [last] * 8).diverged(k=3.0, min_steps=10) is not None) is diverged


def test_the_next_window_carries_the_graded_evaluations_of_the_phase() -> None:
    tracker = tracker_with([1.0, 0.9])
    tracker.on_epoch(evaluated(0, 0.8))
    tracker.take_window()
    tracker.on_epoch(evaluated(1, 0.7))
    window = tracker.take_window()
    assert window is not None and [r.epoch for r in window.earlier_epochs] == [0]
    assert window.epochs[0].n == 96
    tracker.start_phase("next")
    tracker.on_epoch(evaluated(0, 0.7, exact=0.6))
    window = tracker.take_window()
    assert window is not None and window.earlier_epochs == []


def test_a_step_sets_the_params_and_a_checkpoint_keeps_the_last_val_loss() -> None:
    tracker = tracker_with([1.0])
    # The step fixture's peak LR (3e-3), not its scheduled LR (1e-4).
    assert tracker.params == TrainParams(peak_lr=3e-3, micro_batch=8, grad_accum=1)
    tracker.on_epoch(evaluated(0, 0.8, exact=0.25))
    tracker.on_checkpoint(CheckpointSaved(**where("ascii", "main", step=12), path="ckpt/epoch-0",
                                          reason="epoch", exact_match=0.25))
    [saved] = tracker.checkpoints
    assert (saved.step, saved.epoch, saved.val_loss, saved.exact_match) == (12, 0, 0.8, 0.25)


def test_skipped_steps_are_counted_within_the_window() -> None:
    tracker = tracker_with([])
    assert [tracker.on_skip(step, window_steps=50) for step in (10, 20, 60, 61)] == [1, 2, 2, 3]


def test_divergence_asked_every_step_sees_what_one_late_question_sees() -> None:
    # The supervisor asks at every step, and the tracker extends its means incrementally; asked once at the
    # end, the same losses must give the same verdict. A rise after a long phase: the best mean is early.
    losses = [2.0 - 0.001 * i for i in range(300)] + [1.8 - 0.0005 * i for i in range(100)] + [6.0] * 8
    stepwise = SpecialistTracker("ascii")
    stepwise.start_phase("main")
    verdicts = []
    for number, loss in enumerate(losses, start=1):
        stepwise.on_step(stepped(number, loss))
        verdicts.append(stepwise.diverged(k=3.0, min_steps=10))
    for index in [*range(0, len(losses), 25), *range(len(losses) - 10, len(losses))]:
        late = tracker_with(losses[: index + 1]).diverged(k=3.0, min_steps=10)
        assert verdicts[index] == (None if late is None else pytest.approx(late)), index
    assert verdicts[:400] == [None] * 400
    recent, best = verdicts[-1]
    assert recent == pytest.approx(6.0) and best == pytest.approx(sum(losses[292:300]) / 8)


def test_divergence_after_a_rollback_compares_only_what_came_after_it() -> None:
    tracker = tracker_with([0.5] * 30)
    tracker.diverged(k=3.0, min_steps=10)
    tracker.on_rollback()
    for number, loss in enumerate([1.0] * 16 + [2.9] * 8, start=31):
        tracker.on_step(stepped(number, loss))
        verdict = tracker.diverged(k=3.0, min_steps=10)
    # 2.9 > 3 x 0.5 but not > 3 x 1.0: the losses before the rollback no longer count.
    assert verdict is None
