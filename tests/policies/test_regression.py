"""Table-driven tests of the regression guard: promote only a job not worse than the promoted checkpoint."""

from __future__ import annotations

import pytest

from policies.regression import regression_verdict


@pytest.mark.parametrize(
    ("baseline", "candidate", "margin", "promote", "reason"),
    [
        (
            0.50,
            0.75,
            0.0,
            True,
            "exact match 0.750 on the standing val set against the promoted checkpoint's 0.500 (margin 0): "
            "not worse, promoted",
        ),
        (
            0.50,
            0.50,
            0.0,
            True,
            "exact match 0.500 on the standing val set against the promoted checkpoint's 0.500 (margin 0): "
            "not worse, promoted",
        ),
        (
            0.75,
            0.70,
            0.1,
            True,
            "exact match 0.700 on the standing val set against the promoted checkpoint's 0.750 (margin 0.1): "
            "not worse, promoted",
        ),
        (0.75, 0.65, 0.1, True, "(margin 0.1): not worse, promoted"),
        (
            0.75,
            0.50,
            0.1,
            False,
            "exact match 0.500 on the standing val set against the promoted checkpoint's 0.750 (margin 0.1): "
            "worse by 0.250, kept but not promoted",
        ),
        (0.75, 0.70, 0.0, False, "(margin 0): worse by 0.050, kept but not promoted"),
        (
            None,
            0.25,
            0.0,
            True,
            "exact match 0.250 on the standing val set; nothing promoted to compare with",
        ),
        (None, 0.0, 0.5, True, "exact match 0.000 on the standing val set; nothing promoted to compare with"),
        (0.50, None, 0.0, False, "the job's checkpoint has no exact-match score on the standing val set"),
        (None, None, 0.0, False, "the job's checkpoint has no exact-match score on the standing val set"),
    ],
)
def test_verdict_table(
    baseline: float | None, candidate: float | None, margin: float, promote: bool, reason: str
) -> None:
    promoted, why = regression_verdict(baseline, candidate, margin)
    assert promoted is promote
    assert reason in why


@pytest.mark.parametrize(
    ("baseline", "candidate", "margin"),
    [
        (0.1 + 0.2, 0.3, 0.0),  # 0.30000000000000004 against 0.3: the same score
        (4 / 5, 3 / 5, 1 / 5),  # 0.8 - 0.2 is 0.6000000000000001 in floats
        (3 / 3, 2 / 3, 1 / 3),  # a margin of one example out of three, exactly on the floor
    ],
)
def test_float_noise_is_the_same_score(baseline: float, candidate: float, margin: float) -> None:
    assert candidate < baseline - margin  # the noise the tolerance is there for
    promoted, why = regression_verdict(baseline, candidate, margin)
    assert promoted, why
    assert why.endswith("not worse, promoted")


def test_a_real_difference_beyond_the_tolerance_is_worse() -> None:
    promoted, why = regression_verdict(0.5, 0.5 - 1e-6, 0.0)
    assert not promoted
    assert "kept but not promoted" in why


def test_the_margin_edge_is_inclusive() -> None:
    # 2 of 8 right against 3 of 8 with a margin of one example: on the floor, promoted
    assert regression_verdict(3 / 8, 2 / 8, 1 / 8)[0]
    assert not regression_verdict(3 / 8, 1 / 8, 1 / 8)[0]
