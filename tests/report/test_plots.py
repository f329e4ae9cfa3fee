"""Tests for the report's figure helpers: smoothing, rollback detection, epochs across phases, odd inputs."""

from __future__ import annotations

import math

import pytest

from report.plots import epoch_offsets, finite, plot_grades, plot_loss, smooth, superseded

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_smooth_keeps_length_and_constants_and_does_not_lag_a_line() -> None:
    assert smooth([]) == []
    assert smooth([2.0] * 50) == pytest.approx([2.0] * 50)
    line = [100.0 - index for index in range(90)]
    smoothed = smooth(line)
    assert len(smoothed) == len(line)
    # A centred window leaves the interior of a straight line where it is.
    assert smoothed[10:80] == pytest.approx(line[10:80])


def test_superseded_marks_the_steps_a_rollback_replayed() -> None:
    steps = [1, 2, 3, 4, 5, 3, 4, 5, 6]
    assert superseded(steps) == [False, False, True, True, True, False, False, False, False]
    assert superseded([1, 2, 3]) == [False, False, False]
    assert superseded([]) == []


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # Epochs restart in each phase: phase 2 follows phase 1's 4 epochs.
        ([("p1", 1), ("p1", 4), ("p2", 1), ("p2", 6)], {"p1": 0, "p2": 4}),
        # Epochs already counted across phases: nothing to add.
        ([("p1", 1), ("p1", 4), ("p2", 5), ("p2", 10)], {"p1": 0, "p2": 0}),
        # Epochs counted from 0.
        ([("p1", 0), ("p1", 3), ("p2", 0), ("p2", 2), ("p3", 0)], {"p1": 0, "p2": 4, "p3": 7}),
        ([], {}),
    ],
)
def test_epoch_offsets(events: list[tuple[str, int]], expected: dict[str, int]) -> None:
    assert epoch_offsets([{"phase": phase, "epoch": epoch} for phase, epoch in events]) == expected


def test_finite() -> None:
    assert finite(1) == 1.0
    assert finite(0.5) == 0.5
    assert [finite(value) for value in (math.nan, math.inf, None, "1", True)] == [None] * 5


def test_figures_of_odd_inputs_are_still_pngs() -> None:
    only_nan = [{"step": 1, "loss": math.nan, "phase": "p"}, {"step": 2, "loss": None, "phase": "p"}]
    no_step = [{"loss": 1.0}]
    decision_without_step = [{"action": "pause", "step": None}]
    for steps in (only_nan, no_step, []):
        png = plot_loss("s", "r", steps, [{"step": 2, "val_loss": math.nan}], decision_without_step)
        assert png[:8] == PNG_MAGIC
    grades = {"a": [{"score": None, "letter": "F"}], "b": [{"score": 12.0, "letter": "F", "source": "other"}]}
    assert plot_grades("r", grades, {})[:8] == PNG_MAGIC
    assert plot_grades("r", {}, {})[:8] == PNG_MAGIC
