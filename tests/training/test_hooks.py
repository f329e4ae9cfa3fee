"""Hooks: every request (LR, batch, checkpoint, stop, skip, pause) takes effect at the next step boundary."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from training.events import CheckpointSaved, Event, StepMetrics
from training.hooks import Commands, TrainerHooks
from training.recipe import train_specialist

from .conftest import Recorder


def at_step(recorder: Recorder, step: int, action: Callable[[], None], phase: str | None = None) -> None:
    """Run `action` when the given step's metrics arrive (from inside the training thread)."""

    def on_event(event: Event) -> None:
        if not isinstance(event, StepMetrics) or event.specialist != "ascii" or event.step != step:
            return
        if phase is None or event.phase == phase:
            action()

    recorder._event_callback = on_event


def test_set_lr_changes_the_peak_from_the_next_step(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    at_step(recorder, 2, lambda: recorder.set_lr(0.01))
    train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    peaks = [e.peak_lr for e in recorder.of_kind("step")]
    assert peaks[:2] == [0.003, 0.003] and set(peaks[2:]) == {0.01}


def test_set_batch_changes_micro_batch_and_accumulation(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    at_step(recorder, 1, lambda: recorder.set_batch(2, 4))
    result = train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    shapes = [(e.micro_batch, e.grad_accum) for e in recorder.of_kind("step")]
    assert shapes[0] == (8, 1) and set(shapes[1:]) == {(2, 4)}
    assert result.status == "completed" and len(shapes) == 12


def test_request_checkpoint_saves_on_demand(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    at_step(recorder, 3, recorder.request_checkpoint)
    train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    [saved] = [e for e in recorder.of_kind("checkpoint") if e.reason == "on_demand"]
    assert saved.step == 3 and saved.path.endswith("-e0-s3")


def test_stop_ends_the_phase_and_the_specialist(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"phases": [{"name": "a"}, {"name": "b"}]}}})
    recorder = Recorder()
    at_step(recorder, 2, lambda: recorder.stop("operator said so"))
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    assert result.status == "stopped"
    assert [(p.phase, p.status, p.reason) for p in result.phases] == [("a", "stopped", "operator said so")]
    assert [e.step for e in recorder.of_kind("step")] == [1, 2]
    [stop_save] = [e for e in recorder.of_kind("checkpoint") if e.reason == "stop"]
    assert stop_save.step == 2


def test_skip_phase_moves_on_from_the_skipped_weights(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"phases": [{"name": "a"}, {"name": "b"}]}}})
    recorder = Recorder()
    at_step(recorder, 2, lambda: recorder.skip_phase("enough of a"), phase="a")
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    assert result.status == "completed"
    assert [(p.phase, p.status) for p in result.phases] == [("a", "skipped"), ("b", "completed")]
    assert [e.phase for e in recorder.of_kind("step")].count("b") == 6


def test_pause_blocks_at_the_boundary_with_heartbeats_until_resumed(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()

    def pause_then_resume_later() -> None:
        recorder.pause()
        threading.Timer(0.4, recorder.resume).start()

    at_step(recorder, 2, pause_then_resume_later)
    result = train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    assert result.status == "completed"
    paused = [e for e in recorder.of_kind("heartbeat") if e.stage == "paused"]
    assert paused and all(e.step == 2 for e in paused)


def test_commands_are_collected_and_cleared_but_stop_persists() -> None:
    hooks = TrainerHooks()
    hooks.set_lr(0.5)
    hooks.set_batch(4, 2)
    hooks.stop("done")
    first = hooks.take_commands()
    assert (first.peak_lr, first.micro_batch, first.grad_accum, first.stop) == (0.5, 4, 2, "done")
    assert hooks.take_commands() == Commands(stop="done")
    assert hooks.stop_requested


def test_invalid_requests_fail_loudly() -> None:
    hooks = TrainerHooks()
    with pytest.raises(ValueError, match="peak_lr must be > 0, got 0"):
        hooks.set_lr(0)
    with pytest.raises(ValueError, match="micro_batch and grad_accum must be >= 1, got 0 and 2"):
        hooks.set_batch(0, 2)


def test_rollback_to_a_chosen_checkpoint(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    starts: list[str] = []

    def on_event(event: Event) -> None:
        is_start = isinstance(event, CheckpointSaved) and event.reason == "phase_start"
        if is_start and event.specialist == "ascii":
            starts.append(event.path)  # type: ignore[attr-defined]
        if isinstance(event, StepMetrics) and event.specialist == "ascii" and event.step == 8 and starts:
            recorder.rollback(starts.pop())

    recorder._event_callback = on_event
    result = train_specialist(
        make_config({"training": {"keep_last": 5}}), "ascii", hooks=recorder, resume=False
    )
    [rollback] = recorder.of_kind("rollback")
    assert rollback.checkpoint.endswith("-e0-s0") and rollback.step == 0
    assert result.status == "completed" and len(result.phases[0].step_losses) == 12
    assert [e.step for e in recorder.of_kind("step")] == [*range(1, 9), *range(1, 13)]


def test_an_lr_and_batch_sent_with_a_rollback_outlive_the_restore(make_config) -> None:  # type: ignore[no-untyped-def]
    """Grade F's "roll back and halve the LR": the restored checkpoint's LR and batch must not win."""
    recorder = Recorder()
    fired: list[bool] = []

    def roll_back_and_halve() -> None:
        if fired:
            return  # step 5 comes again after the rollback
        fired.append(True)
        recorder.set_lr(0.0015)
        recorder.set_batch(4, 2)
        recorder.rollback(None)

    at_step(recorder, 5, roll_back_and_halve)
    train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    [rollback] = recorder.of_kind("rollback")
    after = [e for e in recorder.of_kind("step")][5:]
    assert rollback.step < 5 and after
    assert {(e.peak_lr, e.micro_batch, e.grad_accum) for e in after} == {(0.0015, 4, 2)}
