"""Table-driven tests of the deterministic rubric: one row per band of every component, letters and caps."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from agents.grade import Component, Grade, letter_for_score
from agents.rubric import RubricThresholds, count_spikes, grade_with_rubric
from tests.agents.window_factory import decreasing_steps, make_window


def with_spikes(positions: list[int], count: int = 40, multiplier: float = 2.5) -> list[float]:
    steps = decreasing_steps(count)
    for position in positions:
        steps[position] *= multiplier
    return steps


def rising(count: int = 40, start: float = 1.0, total_growth: float = 1.05) -> list[float]:
    return [start * (1 + (total_growth - 1) * step / (count - 1)) for step in range(count)]


@pytest.mark.parametrize(("steps", "points", "reason_start"), [
    (decreasing_steps(), 30, "smooth decrease"),
    (with_spikes([20]), 20, "some spikes: 1/35"),
    (with_spikes([8, 12, 16, 20, 24, 28, 32]), 10, "erratic: 7/35 steps spiked"),
    (rising(total_growth=1.05), 10, "erratic: rising"),
    (rising(total_growth=1.5), 0, "diverging: step loss quarter means"),
    ([*decreasing_steps(20), math.nan, *decreasing_steps(19)], 0, "diverging: 1 non-finite step loss"),
    ([*decreasing_steps(20), math.inf, *decreasing_steps(19)], 0, "diverging: 1 non-finite step loss"),
], ids=["smooth", "one-spike", "erratic-spikes", "slowly-rising", "diverging", "nan", "inf"])
def test_loss_convergence_bands(steps: list[float], points: int, reason_start: str) -> None:
    component = grade_with_rubric(make_window(steps=steps)).component("loss_convergence")
    assert component.points == points
    assert component.reason.startswith(reason_start), component.reason


def test_loss_convergence_falls_back_to_the_val_loss_curve_when_steps_are_few() -> None:
    window = make_window([1.0, 1.3, 1.6, 2.0], steps=[1.0, 0.9])
    component = grade_with_rubric(window).component("loss_convergence")
    assert component.measured["used_val_loss_curve"] == 1.0
    assert component.points == 0
    assert "val loss (too few step losses)" in component.reason


def test_jitter_near_zero_loss_is_not_a_spike() -> None:
    steps = [0.001, 0.002] * 20
    assert count_spikes(steps, RubricThresholds()) == (0, 35)
    assert count_spikes(steps, RubricThresholds(spike_min_delta=0.0))[0] > 0


def test_spike_ratio_comes_from_the_thresholds() -> None:
    window = make_window(steps=with_spikes([20], multiplier=1.8))
    assert grade_with_rubric(window).component("loss_convergence").points == 20
    tolerant = RubricThresholds(spike_ratio=2.0)
    assert grade_with_rubric(window, tolerant).component("loss_convergence").points == 30


@pytest.mark.parametrize(("exact_match", "points"), [
    (0.99, 30), (0.951, 30), (0.95, 25), (0.90, 25), (0.89, 20), (0.80, 20), (0.79, 10), (0.0, 10),
])
def test_validation_accuracy_bands(exact_match: float, points: int) -> None:
    component = grade_with_rubric(make_window(exact=exact_match)).component("validation_accuracy")
    assert component.points == points
    assert component.measured == {"exact_match": exact_match}


@pytest.mark.parametrize(("validity", "points", "band"), [
    (1.0, 20, "perfect"), (0.99, 15, "minor errors"), (0.95, 15, "minor errors"), (0.94, 5, "major errors"),
])
def test_format_correctness_bands(validity: float, points: int, band: str) -> None:
    component = grade_with_rubric(make_window(validity=validity)).component("format_correctness")
    assert component.points == points
    assert band in component.reason


@pytest.mark.parametrize(("val_losses", "exact", "lrs", "points", "reason_start"), [
    ([1.0, 0.8, 0.6, 0.5], 0.97, None, 20, "steady improvement"),
    ([1.0, 0.8, 0.799, 0.798], 0.97, None, 10, "stall: last 2 epoch(s)"),
    ([1.0, 0.999], 0.97, None, 10, "stall: last 1 epoch(s)"),
    ([1.0, 0.8, 0.799, 0.798, 0.6], 0.97, [1e-4, 1e-4, 1e-4, 5e-5, 5e-5], 15, "plateau handled"),
    ([1.0, 0.8, 0.799, 0.798, 0.6], 0.97, None, 15, "plateau handled"),
    ([1.0, 0.8, 0.6, 0.5], [0.90, 0.95, 0.96, 0.92], None, 0, "regression: exact match fell from best 96.0%"),
    ([1.0], 0.97, None, 20, "one epoch"),
], ids=["steady", "stall", "two-epoch-stall", "plateau-lr-change", "plateau-self-recovered", "regression",
        "one-epoch"])
def test_progress_consistency_bands(val_losses: list[float], exact: float | list[float],
                                    lrs: list[float] | None, points: int, reason_start: str) -> None:
    window = make_window(val_losses, exact=exact, lrs=lrs)
    component = grade_with_rubric(window).component("progress_consistency")
    assert component.points == points
    assert component.reason.startswith(reason_start), component.reason


def test_plateau_handled_records_whether_the_lr_changed() -> None:
    losses = [1.0, 0.8, 0.799, 0.798, 0.6]
    changed = make_window(losses, lrs=[1e-4, 1e-4, 1e-4, 5e-5, 5e-5])
    unchanged = make_window(losses)
    with_change = grade_with_rubric(changed).component("progress_consistency")
    without_change = grade_with_rubric(unchanged).component("progress_consistency")
    assert with_change.measured["lr_changed_after_plateau"] == 1.0
    assert without_change.measured["lr_changed_after_plateau"] == 0.0
    assert with_change.reason.endswith("after an LR change")
    assert without_change.reason.endswith("without an LR change")


def test_small_drop_in_exact_match_within_tolerance_is_not_regression() -> None:
    window = make_window(exact=[0.95, 0.97, 0.96, 0.96])
    assert grade_with_rubric(window).component("progress_consistency").points == 20


@pytest.mark.parametrize(("score", "letter"), [
    (100, "A"), (90, "A"), (89, "B"), (80, "B"), (79, "C"), (70, "C"), (69, "D"), (60, "D"), (59, "F"),
    (0, "F"),
])
def test_letters(score: int, letter: str) -> None:
    assert letter_for_score(score) == letter


def test_healthy_window_scores_full_marks_with_a_reason_per_component() -> None:
    grade = grade_with_rubric(make_window())
    assert (grade.score, grade.letter, grade.source, grade.fallback_reason) == (100, "A", "rubric", None)
    assert [c.name for c in grade.components] == ["loss_convergence", "validation_accuracy",
                                                  "format_correctness", "progress_consistency"]
    assert all(c.reason and c.measured for c in grade.components)
    assert grade.rationale.startswith("rubric 100/100 (A): loss_convergence 30/30")


def test_score_is_the_sum_of_components() -> None:
    grade = grade_with_rubric(make_window([1.0, 0.8, 0.799, 0.798], exact=0.85, validity=0.97))
    assert grade.score == sum(c.points for c in grade.components) == 30 + 20 + 15 + 10
    assert grade.letter == "C"


def test_reported_hard_fault_caps_a_perfect_window_at_f() -> None:
    grade = grade_with_rubric(make_window(faults=["oom at step 7"]))
    assert (grade.score, grade.letter) == (59, "F")
    assert grade.hard_faults == ["oom at step 7"]
    assert "caps 100 at 59" in grade.rationale


def test_non_finite_loss_is_a_hard_fault_even_when_not_reported() -> None:
    grade = grade_with_rubric(make_window(steps=[*decreasing_steps(10), math.nan, *decreasing_steps(10)]))
    assert grade.letter == "F"
    assert grade.hard_faults == ["non_finite_loss at step_losses[10] = nan"]


def test_non_finite_val_loss_is_a_hard_fault() -> None:
    grade = grade_with_rubric(make_window([1.0, 0.8, math.inf]))
    assert grade.hard_faults == ["non_finite_val_loss at epoch 3 = inf"]
    assert grade.letter == "F"


def test_hard_fault_cap_is_configurable_but_never_above_f() -> None:
    assert grade_with_rubric(make_window(faults=["x"]), RubricThresholds(hard_fault_cap=30)).score == 30
    with pytest.raises(ValidationError, match="less than or equal to 59"):
        RubricThresholds(hard_fault_cap=70)


def test_thresholds_report_every_misordered_band_at_once() -> None:
    with pytest.raises(ValidationError, match=r"accuracy_excellent >= accuracy_good.*format_perfect \(0.9\)"):
        RubricThresholds(accuracy_good=0.97, format_perfect=0.9)


def test_thresholds_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="spike_ration"):
        RubricThresholds(spike_ration=2.0)


def test_grade_rejects_a_letter_that_does_not_match_the_score() -> None:
    with pytest.raises(ValidationError, match="letter 'A' does not match score 75 \\(expected 'C'\\)"):
        Grade(score=75, letter="A", components=[], source="rubric", rationale="r")


def test_grade_rejects_a_hard_fault_without_f() -> None:
    with pytest.raises(ValidationError, match="hard faults \\['nan'\\] require letter F"):
        Grade(score=75, letter="C", components=[], source="rubric", rationale="r", hard_faults=["nan"])


def test_component_rejects_points_above_max_and_multiline_reasons() -> None:
    with pytest.raises(ValidationError, match="points 31 exceed max_points 30"):
        Component(name="loss_convergence", points=31, max_points=30, reason="r")
    with pytest.raises(ValidationError, match="reason must be one line"):
        Component(name="loss_convergence", points=3, max_points=30, reason="a\nb")


def test_component_lookup_names_the_existing_components() -> None:
    with pytest.raises(KeyError, match="no component 'speed'; components are \\['loss_convergence'"):
        grade_with_rubric(make_window()).component("speed")


TOLERANCE = 2**-6  # exactly representable, so a drop can sit exactly on the regression tolerance


@pytest.mark.parametrize(("last", "points"), [(0.5 - TOLERANCE, 20), (0.5 - TOLERANCE - 1e-9, 0)],
                         ids=["drop-at-tolerance", "drop-just-beyond"])
def test_regression_tolerance_boundary(last: float, points: int) -> None:
    window = make_window(exact=[0.5, 0.5, 0.5, last])
    thresholds = RubricThresholds(regression_tolerance=TOLERANCE)
    assert grade_with_rubric(window, thresholds).component("progress_consistency").points == points


# Epochs 2 and 3 are flat (the plateau), epoch 4 recovers. An LR change counts from the plateau's first epoch
# (compared with the one before it) to the recovering epoch, and nowhere else.
PLATEAU_LOSSES = [1.0, 0.8, 0.799, 0.798, 0.6, 0.4]
A, B = 1e-4, 5e-5


@pytest.mark.parametrize(("lrs", "changed"), [
    ([A, B, B, B, B, B], 0.0),
    ([A, A, B, B, B, B], 1.0),
    ([A, A, A, A, B, B], 1.0),
    ([A, A, A, A, A, B], 0.0),
], ids=["before-the-plateau", "at-its-first-epoch", "at-the-recovering-epoch", "after-the-recovery"])
def test_the_lr_change_window_of_a_handled_plateau(lrs: list[float], changed: float) -> None:
    component = grade_with_rubric(make_window(PLATEAU_LOSSES, lrs=lrs)).component("progress_consistency")
    assert component.points == 15
    assert component.measured["lr_changed_after_plateau"] == changed
