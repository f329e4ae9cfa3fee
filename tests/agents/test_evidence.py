"""The evidence's rules, one row per rule and a row at each threshold's exact boundary."""

from __future__ import annotations

import math

import pytest

from agents.evidence import assess, linear_trend, robust_spikes, trajectory, wilson_interval
from agents.metrics import EpochRecord, MetricWindow
from settings.policies import EvidenceThresholds

N = 96


def records(
    val_losses: list[float],
    exact: list[float] | None = None,
    validity: list[float] | None = None,
    epochs: list[int] | None = None,
    n: int | None = N,
) -> list[EpochRecord]:
    count = len(val_losses)
    exact = exact or [0.2] * count
    validity = validity or [0.6] * count
    epochs = epochs or list(range(1, 2 * count, 2))
    return [
        EpochRecord(epoch=e, val_loss=v, exact_match=x, format_validity=f, lr=1e-3, n=n)
        for e, v, x, f in zip(epochs, val_losses, exact, validity, strict=True)
    ]


def window(
    evaluations: list[EpochRecord], steps: list[float] | None = None, grad_norms: list[float] | None = None
) -> MetricWindow:
    """The last evaluation is the window's; the ones before it are the phase's earlier ones."""
    return MetricWindow(
        specialist="ascii",
        phase="main",
        epochs=evaluations[-1:],
        earlier_epochs=evaluations[:-1],
        step_losses=steps or [],
        step_grad_norms=grad_norms or [],
    )


def test_wilson_interval_matches_the_textbook_values() -> None:
    # 10 successes in 100 at z = 1.96: Wilson's interval is [0.0552, 0.1744] (Newcombe 1998, method 3).
    low, high = wilson_interval(0.1, 100, 1.96)
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    assert wilson_interval(0.0, 10, 1.96)[0] == 0.0
    assert wilson_interval(1.0, 10, 1.96)[1] == 1.0
    with pytest.raises(ValueError, match="an interval needs n >= 1 examples, got 0"):
        wilson_interval(0.5, 0, 1.96)


def test_linear_trend_slope_and_standard_error() -> None:
    assert linear_trend([3.0, 2.0]) == (-1.0, None)
    slope, se = linear_trend([3.0, 2.0, 1.0])
    assert (slope, se) == (-1.0, 0.0)
    # Residuals (1/3, -2/3, 1/3) around slope 0: se = sqrt((6/9) / (3 - 2) / sxx 2).
    slope, se = linear_trend([1.0, 0.0, 1.0])
    assert slope == 0.0 and se == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="a trend needs at least 2 values, got 1"):
        linear_trend([1.0])


SPIKE = 3.25
# Median 1.0, MAD 0.25 (exact in binary): the robust z of SPIKE is (SPIKE - 1.0) / (1.4826 × 0.25) ≈ 6.07.
SPIKE_Z = (SPIKE - 1.0) / (1.4826 * 0.25)


@pytest.mark.parametrize(
    ("threshold", "spike"),
    [(SPIKE_Z, False), (SPIKE_Z - 1e-9, True)],
    ids=["at-spike_z", "just-below-spike_z"],
)
def test_a_spike_is_a_robust_z_score_above_spike_z(threshold: float, spike: bool) -> None:
    series = [0.75, 1.0, 1.25] * 2 + [SPIKE]
    found = robust_spikes(series, "loss", lookback=6, threshold=threshold)
    assert bool(found) is spike
    if found:
        assert (found[0].index, found[0].median, found[0].value) == (6, 1.0, SPIKE)
        assert found[0].robust_z == pytest.approx(SPIKE_Z)


def test_a_constant_series_is_scaled_by_its_median_not_divided_by_zero() -> None:
    # MAD 0: the scale is 0.1% of the median, so a 1% jump is a z of 10 and a 0.5% one of 5.
    assert robust_spikes([2.0] * 6 + [2.02], "loss", 6, 6.0)[0].robust_z == pytest.approx(10.0)
    assert robust_spikes([2.0] * 6 + [2.01], "loss", 6, 6.0) == []


def test_a_rollback_replaces_the_replayed_epochs_on_the_trajectory() -> None:
    evaluations = records([3.0, 2.5, 2.9, 2.4], epochs=[1, 3, 3, 5])
    assert [(r.epoch, r.val_loss) for r in trajectory(evaluations)] == [(1, 3.0), (3, 2.9), (5, 2.4)]


def t(**changes: object) -> EvidenceThresholds:
    return EvidenceThresholds(**changes)  # type: ignore[arg-type]


TOLERANCE = 2**-7  # exactly representable, so a gain can sit exactly on it
AT = 2.0 * (1 - TOLERANCE)


@pytest.mark.parametrize(
    ("losses", "verdict"),
    [
        ([2.0], "inconclusive"),
        ([2.0, 1.9], "improving"),
        ([2.0, 2.0, 2.0], "plateaued"),
        ([2.0, 1.9, 1.9], "inconclusive"),
        ([2.0, AT], "inconclusive"),
        ([2.0, AT - 1e-9], "improving"),
        ([2.0, 2.0, AT], "plateaued"),
        ([2.0, 1.0, 1.0, 1.0], "plateaued"),
    ],
    ids=[
        "one-evaluation",
        "two-improving",
        "three-flat",
        "one-flat-step-after-a-drop-is-no-plateau",
        "gain-at-tolerance",
        "gain-just-above",
        "flat-at-3",
        "flat-steps-after-a-drop",
    ],
)
def test_progress_of_the_val_loss(losses: list[float], verdict: str) -> None:
    assert assess(window(records(losses)), t(plateau_tolerance=TOLERANCE)).verdict == verdict


def test_a_steady_slope_counts_only_when_even_its_pessimistic_end_gains_more_than_the_tolerance() -> None:
    # Best-before rule off (the last is not below the best before it), so only the slope can say improving.
    # Slope -0.1 per evaluation over a mean of 2.0 (5%), with noise: se = 0.0433.
    noisy = [2.1, 2.1, 1.9, 1.9]
    evidence = assess(window(records(noisy)), t(z=1.0))
    assert evidence.trend is not None and evidence.trend.slope == pytest.approx(-0.08)
    se = evidence.trend.standard_error
    assert se is not None
    pessimistic = -(evidence.trend.slope + 1.0 * se) / evidence.trend.mean_loss
    assert evidence.verdict == "improving"
    # Not proven, but the loss still falls 4% per evaluation: no plateau either, so nothing to act on.
    assert assess(window(records(noisy)), t(z=1.0, plateau_tolerance=pessimistic)).verdict == "inconclusive"
    assert (
        assess(window(records(noisy)), t(z=1.0, plateau_tolerance=pessimistic - 1e-9)).verdict == "improving"
    )


def _central_gain(losses: list[float]) -> float:
    """-slope / mean of a least-squares line, computed by hand (not by the code under test)."""
    count = len(losses)
    x_mean, y_mean = (count - 1) / 2, sum(losses) / count
    slope = sum((x - x_mean) * (y - y_mean) for x, y in enumerate(losses)) / sum(
        (x - x_mean) ** 2 for x in range(count))
    return -slope / y_mean


@pytest.mark.parametrize(("offset", "verdict"), [(0.0, "plateaued"), (-1e-9, "inconclusive")],
                         ids=["central-slope-at-tolerance", "central-slope-just-above"])
def test_a_plateau_needs_a_flat_central_slope_or_flat_recent_steps(offset: float, verdict: str) -> None:
    # The third evaluation gained 5% (so the recent steps are not flat) and the last none (so it is not
    # improving): only the central slope, 1.27% per evaluation, can make it a plateau, at its boundary.
    losses = [2.0, 2.0, 1.9, 1.95]
    tolerance = _central_gain(losses) + offset
    evidence = assess(window(records(losses)), t(plateau_tolerance=tolerance, z=50.0))
    assert evidence.verdict == verdict, evidence.reasons


@pytest.mark.parametrize(("offset", "verdict"), [(0.0, "plateaued"), (1e-9, "inconclusive")],
                         ids=["recent-step-gain-at-tolerance", "recent-step-gain-just-above"])
def test_the_recent_steps_of_a_plateau_gain_at_most_the_tolerance(offset: float, verdict: str) -> None:
    # [3.0, 2.0, x, x] with x = 2.0 × (1 - g): a steep earlier drop (central slope far above the tolerance);
    # the last two evaluations gain g and 0 over the best before them. z is huge so no slope proves a gain.
    gain = 2**-8
    last = 2.0 * (1 - gain) - offset
    losses = [3.0, 2.0, last, last]
    evidence = assess(window(records(losses)), t(plateau_tolerance=gain, z=50.0, trend_evals=4))
    assert evidence.verdict == verdict, evidence.reasons


def test_a_plateau_beyond_doubt_needs_early_stop_evals_and_a_flat_optimistic_slope() -> None:
    flat = [2.0, 2.001, 1.999, 2.0]
    doubtless = assess(window(records(flat)))
    assert (doubtless.verdict, doubtless.plateau_beyond_doubt) == ("plateaued", True)
    three = assess(window(records(flat[:3])))
    assert (three.verdict, three.plateau_beyond_doubt) == ("plateaued", False)
    # Noisy and flat: the optimistic slope may still gain, so it is a plateau but not beyond doubt. (The last
    # loss stays within loss_regression_tolerance of the best before it: more would be a regression.)
    noisy = assess(window(records([2.0, 2.08, 1.96, 2.05])))
    assert (noisy.verdict, noisy.plateau_beyond_doubt) == ("plateaued", False)


def test_the_optimistic_slope_boundary_of_a_plateau_beyond_doubt() -> None:
    flat = [2.0, 2.02, 1.98, 2.0]
    evidence = assess(window(records(flat)), t(z=1.0))
    assert evidence.trend is not None and evidence.trend.standard_error is not None
    optimistic = -(evidence.trend.slope - evidence.trend.standard_error) / evidence.trend.mean_loss
    at = assess(window(records(flat)), t(z=1.0, plateau_tolerance=optimistic))
    above = assess(window(records(flat)), t(z=1.0, plateau_tolerance=optimistic + 1e-9))
    assert (at.verdict, at.plateau_beyond_doubt) == ("plateaued", False)
    assert (above.verdict, above.plateau_beyond_doubt) == ("plateaued", True)


def _touching(best: float, n: int = N) -> float:
    """The exact match whose interval's top is exactly the bottom of `best`'s interval."""
    target = wilson_interval(best, n, 1.96)[0]
    low, high = 0.0, best
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if wilson_interval(middle, n, 1.96)[1] < target else (low, middle)
    return high


def test_a_regression_must_leave_both_intervals() -> None:
    at = _touching(0.4)
    inside = assess(window(records([2.0, 1.9, 1.8], exact=[0.3, 0.4, at + 1e-9])))
    outside = assess(window(records([2.0, 1.9, 1.8], exact=[0.3, 0.4, at - 1e-6])))
    assert inside.verdict == "improving"  # the val loss still falls and the drop is within the noise
    assert outside.verdict == "regressing"
    assert outside.reasons[0].startswith("exact match ")
    assert "is below the best before it, 40.0% [" in outside.reasons[0]
    # Two answers of 96 (the demo's ascii at epoch 3) is well inside the noise.
    assert assess(window(records([2.0, 1.9], exact=[0.26, 0.24]))).verdict == "improving"


def test_validity_regresses_like_exact_match() -> None:
    evidence = assess(window(records([2.0, 2.0], validity=[0.9, 0.5])))
    assert evidence.verdict == "regressing"
    assert evidence.reasons[0].startswith("validity 50.0% [")


def test_a_retrained_epoch_is_compared_with_what_came_before_the_rollback() -> None:
    # Epoch 3 was evaluated at 40% then rolled back; the retrained epoch 3 is at 15%.
    evaluations = records([2.0, 1.9, 1.85], exact=[0.2, 0.4, 0.15], epochs=[1, 3, 3])
    evidence = assess(window(evaluations))
    assert evidence.verdict == "regressing"
    assert evidence.best_exact_match is not None and evidence.best_exact_match.value == 0.4


def test_exact_match_rising_beyond_both_intervals_is_improvement() -> None:
    evidence = assess(window(records([2.0, 2.0, 2.0], exact=[0.1, 0.15, 0.4])))
    assert evidence.verdict == "improving"
    assert evidence.reasons[0].startswith("exact match rose from 10.0%")


def test_without_n_there_is_no_interval_and_no_regression_claim() -> None:
    evidence = assess(window(records([2.0, 1.9], exact=[0.9, 0.0], n=None)))
    assert (evidence.verdict, evidence.exact_match) == ("improving", None)


def smooth(count: int = 40) -> list[float]:
    return [2.0 * 0.99**i + 0.02 * ((-1) ** i) for i in range(count)]


@pytest.mark.parametrize(
    ("spikes", "verdict"),
    [(2, "improving"), (3, "unstable")],
    ids=["below-unstable_spikes", "at-unstable_spikes"],
)
def test_spikes_make_a_window_unstable_from_unstable_spikes(spikes: int, verdict: str) -> None:
    steps = smooth()
    for index in range(spikes):
        steps[20 + 5 * index] *= 3
    evidence = assess(window(records([2.0, 1.9]), steps=steps))
    assert evidence.verdict == verdict
    assert len(evidence.spikes) == spikes


def test_gradient_norm_spikes_count_too() -> None:
    norms = [1.0 + 0.05 * ((-1) ** i) for i in range(40)]
    for index in (20, 25, 30):
        norms[index] = 8.0
    evidence = assess(window(records([2.0, 1.9]), grad_norms=norms))
    assert evidence.verdict == "unstable"
    assert {s.series for s in evidence.spikes} == {"grad_norm"}


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": [1.0, math.nan]},
        {"grad_norms": [1.0, math.inf]},
        {"val": math.nan},
    ],
    ids=["nan-step-loss", "inf-grad-norm", "nan-val-loss"],
)
def test_non_finite_values_make_a_window_unstable(bad: dict[str, object]) -> None:
    val = float(bad.get("val", 1.9))  # type: ignore[arg-type]
    evidence = assess(
        window(
            records([2.0, val]),
            steps=bad.get("steps"),  # type: ignore[arg-type]
            grad_norms=bad.get("grad_norms"),
        )
    )  # type: ignore[arg-type]
    assert evidence.verdict == "unstable"


@pytest.mark.parametrize(
    ("trend_evals", "epochs", "beyond_doubt"),
    [(4, [3, 5, 7, 9], True), (5, [1, 3, 5, 7, 9], False)],
    ids=["the-flat-four", "the-drop-in-view"],
)
def test_the_trend_is_judged_on_the_latest_trend_evals(
    trend_evals: int, epochs: list[int], beyond_doubt: bool
) -> None:
    evidence = assess(window(records([2.0, 1.0, 1.0, 1.0, 1.0])), t(trend_evals=trend_evals))
    assert evidence.trend is not None and evidence.trend.epochs == epochs
    assert (evidence.verdict, evidence.plateau_beyond_doubt) == ("plateaued", beyond_doubt)


def test_with_the_starting_weights_on_the_trajectory_a_spoiled_first_epoch_is_a_regression() -> None:
    # The supervisor-value bench's LR x10 night: the foundation answers 9 of 48 exactly, the first epoch 0.
    # The intervals, [10.2%, 31.9%] and [0%, 7.4%], do not meet, so the first grade could roll back to the
    # start, if the start were evaluated; without it the first evaluation is the first thing known.
    start, spoiled = records([4.2, 5.34], exact=[9 / 48, 0.0], validity=[19 / 48, 0.0], epochs=[0, 1], n=48)
    assert assess(window([start, spoiled])).verdict == "regressing"
    assert assess(window([spoiled])).verdict == "inconclusive"
