"""Exact resume: E epochs straight == E/2 epochs, stop, resume for E/2 (per-step losses to 1e-6)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from training.events import EpochEval
from training.recipe import train_specialist

from .conftest import Recorder


def stop_after_epoch(epoch: int) -> Recorder:
    recorder = Recorder()

    def on_event(event: object) -> None:
        if isinstance(event, EpochEval) and event.epoch == epoch:
            recorder.stop("half way")

    recorder._event_callback = on_event
    return recorder


@pytest.mark.parametrize("method", ["lora", "full"])
def test_resume_reproduces_the_loss_curve(make_config, method: str) -> None:  # type: ignore[no-untyped-def]
    changes = {
        "model": {"method": method, "lora": {"dropout": 0.1}},
        "specialists": {"ascii": {"phases": [{"name": "main", "epochs": 4}]}},
    }
    straight = train_specialist(make_config(changes), "ascii", resume=False)
    halves = make_config(changes)
    first = train_specialist(halves, "ascii", hooks=stop_after_epoch(1), resume=False)
    assert first.status == "stopped"
    assert first.phases[0].epochs_completed == 2
    recorder = Recorder()
    second = train_specialist(halves, "ascii", hooks=recorder, resume=True)
    assert second.status == "completed"
    [started] = recorder.of_kind("phase_start")
    assert started.resumed_from is not None and started.resumed_from.endswith("-e2-s12")
    expected = straight.phases[0].step_losses
    resumed = second.phases[0].step_losses
    assert len(expected) == len(resumed) == 24
    assert max(abs(a - b) for a, b in zip(expected, resumed, strict=True)) < 1e-6
    final_a = load_file(str(_weights(straight.final_checkpoint)))
    final_b = load_file(str(_weights(second.final_checkpoint)))
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)


def _weights(checkpoint):  # type: ignore[no-untyped-def]
    adapter = checkpoint / "adapter" / "adapter_model.safetensors"
    return adapter if adapter.exists() else checkpoint / "model" / "model.safetensors"


def test_corrupt_newest_checkpoint_is_skipped_on_resume(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        {"training": {"keep_last": 5}, "specialists": {"ascii": {"phases": [{"name": "main", "epochs": 3}]}}}
    )
    first = train_specialist(config, "ascii", hooks=stop_after_epoch(1), resume=False)
    newest = first.phases[0].final_checkpoint
    assert newest is not None and newest.name.endswith("-e2-s12")
    (newest / "adapter" / "adapter_model.safetensors").write_bytes(b"garbage")
    recorder = Recorder()
    second = train_specialist(config, "ascii", hooks=recorder, resume=True)
    [started] = recorder.of_kind("phase_start")
    assert started.resumed_from.endswith("-e1-s6")
    assert len(started.skipped_checkpoints) == 1
    assert "adapter/adapter_model.safetensors has 7 bytes" in started.skipped_checkpoints[0]
    assert second.status == "completed"
    assert len(second.phases[0].step_losses) == 18


def test_a_finished_phase_is_not_trained_again(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config()
    first = train_specialist(config, "ascii", resume=False)
    recorder = Recorder()
    again = train_specialist(config, "ascii", hooks=recorder, resume=True)
    assert recorder.of_kind("step") == []
    assert again.phases[0].final_checkpoint == first.phases[0].final_checkpoint
    assert again.phases[0].step_losses == first.phases[0].step_losses
