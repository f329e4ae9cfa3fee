"""Tests of the metric window: validation, fault detection, and the compact summary sent to the LLM."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from agents.metrics import EpochRecord, MetricWindow
from tests.agents.window_factory import decreasing_steps, make_window


def test_epochs_must_increase() -> None:
    epochs = [EpochRecord(epoch=2, val_loss=1.0, exact_match=0.5, format_validity=1.0, lr=1e-4),
              EpochRecord(epoch=2, val_loss=0.9, exact_match=0.5, format_validity=1.0, lr=1e-4)]
    with pytest.raises(ValidationError, match=r"oldest first; got epoch 2 after 2 in \[2, 2\]"):
        MetricWindow(specialist="s", phase="p", epochs=epochs)


def test_window_needs_an_epoch() -> None:
    with pytest.raises(ValidationError, match="epochs"):
        MetricWindow(specialist="s", phase="p", epochs=[])


@pytest.mark.parametrize(("field", "value"), [("exact_match", 1.2), ("format_validity", -0.1), ("lr", 0.0)])
def test_epoch_record_bounds(field: str, value: float) -> None:
    values = {"epoch": 1, "val_loss": 1.0, "exact_match": 0.5, "format_validity": 1.0, "lr": 1e-4}
    values[field] = value
    with pytest.raises(ValidationError, match=field):
        EpochRecord(**values)


def test_unknown_keys_fail() -> None:
    with pytest.raises(ValidationError, match="val_los"):
        EpochRecord(epoch=1, val_los=1.0, exact_match=0.5, format_validity=1.0, lr=1e-4)


def test_all_hard_faults_merges_reported_and_detected_without_duplicates() -> None:
    window = make_window([1.0, math.nan], steps=[1.0, math.inf, 0.5], faults=["oom at step 3"])
    assert window.all_hard_faults() == [
        "oom at step 3",
        "non_finite_loss at step_losses[1] = inf",
        "non_finite_val_loss at epoch 2 = nan",
    ]


def test_summary_lists_every_epoch_and_a_downsampled_curve() -> None:
    window = make_window(steps=decreasing_steps(100), faults=["oom at step 3"])
    summary = window.summary(max_steps_shown=5)
    assert summary.splitlines()[0] == "specialist=ascii_specialist phase=phase2 epochs=4 steps=100"
    assert "4 | 0.5 | 0.970 | 1.000 | 0.0001" in summary
    assert "step losses (step:loss, 5 of 100 shown): 0:2, 25:" in summary
    assert ", 99:" in summary
    assert summary.endswith("hard faults: oom at step 3")


def test_summary_of_a_short_curve_shows_every_step() -> None:
    summary = make_window(steps=[1.0, 0.5]).summary()
    assert "step losses (step:loss, 2 of 2 shown): 0:1, 1:0.5" in summary
    assert summary.endswith("hard faults: none")


def test_non_finite_losses_survive_a_json_round_trip() -> None:
    window = make_window([1.0, math.nan], steps=[1.0, math.inf])
    again = MetricWindow.model_validate_json(window.model_dump_json())
    assert math.isnan(again.epochs[1].val_loss)
    assert again.step_losses[1] == math.inf
