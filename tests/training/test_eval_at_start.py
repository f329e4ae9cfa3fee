"""eval_at_start: a fresh phase evaluates its starting weights once, before its first step, so the phase_start
checkpoint can be "best" and the supervisor has the start to judge the first epoch against."""

from __future__ import annotations

from training.checkpoint_state import read_state
from training.recipe import train_specialist

from .conftest import Recorder
from .test_hooks import at_step


def test_the_start_is_evaluated_after_phase_started_and_before_any_step(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    result = train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    kinds = [e.kind for e in recorder.events if e.specialist == "ascii" and e.kind != "heartbeat"]
    first_step = kinds.index("step")
    assert kinds.index("phase_start") < kinds.index("epoch_eval") < first_step
    evals = recorder.of_kind("epoch_eval")
    assert [(e.epoch, e.step, e.start) for e in evals] == [(0, 0, True), (0, 6, False), (1, 12, False)]
    assert evals[0].train_loss is None and evals[0].n_graded == 4
    # The phase_start checkpoint carries the start's exact match and val loss: it may be chosen as best.
    [start] = [e for e in recorder.of_kind("checkpoint") if e.reason == "phase_start"]
    assert start.exact_match == evals[0].exact_match
    # The phase's record lists it with the epochs' evaluations.
    assert [e.start for e in result.phases[0].evals] == [True, False, False]


def test_off_means_no_start_evaluation_and_an_unranked_phase_start(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    result = train_specialist(
        make_config({"training": {"eval_at_start": False}}), "ascii", hooks=recorder, resume=False
    )
    assert [e.start for e in recorder.of_kind("epoch_eval")] == [False, False]
    [start] = [e for e in recorder.of_kind("checkpoint") if e.reason == "phase_start"]
    assert start.exact_match is None
    assert result.phases[0].best_checkpoint is not None
    assert read_state(result.phases[0].best_checkpoint)["step"] > 0


def test_a_resumed_phase_does_not_evaluate_its_start_again(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config()
    first = Recorder()
    at_step(first, 7, lambda: first.stop("pause for the test"))
    train_specialist(config, "ascii", hooks=first, resume=False)
    second = Recorder()
    train_specialist(config, "ascii", hooks=second, resume=True)
    assert [e.start for e in first.of_kind("epoch_eval")] == [True, False]
    assert [e.start for e in second.of_kind("epoch_eval")] == [False]
