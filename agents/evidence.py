"""`assess(window) -> Evidence`: what a metric window shows about the trajectory, beyond its noise.

The trajectory is the phase's evaluations in the order they came (`earlier_epochs`, then `epochs`); an
epoch evaluated again after a rollback replaces it and every later one, so the trend is judged on the
weights being trained. The reference for a regression is every evaluation before the last, those from
before a rollback included: retrained epochs are compared with what came before it.

Rules (thresholds in `EvidenceThresholds`; z is the interval width in standard errors):
- Interval: exact match and format validity on n graded examples get a Wilson score interval at z.
- Spike: a step loss or gradient norm whose robust z-score, (value - median) / (1.4826 × MAD) over the
  previous `spike_lookback` finite values, is above `spike_z` (the scale is floored at 0.1% of the median,
  so a constant series is not divided by zero).
- unstable: a non-finite val loss at the last evaluation or a non-finite step value in the window, or at
  least `unstable_spikes` spikes.
- regressing: the last exact match (or validity) interval lies wholly below the best earlier one's:
  last.high < best.low; or the last val loss is more than `loss_regression_tolerance` (relative) above the
  lowest val loss before it, and the last exact match interval does not lie wholly above the exact match of
  that lowest-loss evaluation (a loss that rises while the answers do not get better).
- improving, over the latest `trend_evals` evaluations: the last val loss is below the best before it by
  more than `plateau_tolerance` (relative); or, with three points or more, even the pessimistic slope,
  slope + z × se, gains more than `plateau_tolerance` of the mean val loss per evaluation; or the last
  exact match (or validity) interval lies wholly above the first one's.
- plateaued: none of the above, with at least `plateau_evals` evaluations in the trend, and a sign of no
  progress: the slope itself (its central estimate) gains at most `plateau_tolerance` of the mean val loss
  per evaluation, or each of the last `plateau_evals` - 1 evaluations gained at most `plateau_tolerance`
  over the best before it. The plateau is beyond doubt with at least `early_stop_evals` evaluations when
  even the most optimistic slope, slope - z × se, gains less than `plateau_tolerance` per evaluation.
- inconclusive: too few evaluations to say, or a gain not proven beyond noise that is no plateau either
  (the val loss still falls, just not yet beyond doubt): nothing to act on.
"""

from __future__ import annotations

import math
from statistics import fmean, median

from agents.evidence_model import Evidence, Interval, Spike, Trend, Verdict
from agents.metrics import EpochRecord, MetricWindow
from settings.policies import EvidenceThresholds

MAD_TO_SIGMA = 1.4826
"""MAD of a normal distribution × this = its standard deviation."""
MIN_SCALE_FRACTION = 1e-3
"""The robust scale is at least this fraction of the median's magnitude."""


def wilson_interval(fraction: float, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion `fraction` observed on `n` examples."""
    if n < 1:
        raise ValueError(f"an interval needs n >= 1 examples, got {n}")
    denominator = 1 + z * z / n
    centre = (fraction + z * z / (2 * n)) / denominator
    half = z * math.sqrt(fraction * (1 - fraction) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def interval(record: EpochRecord, metric: str, z: float) -> Interval | None:
    """`metric` ("exact_match" or "format_validity") of `record` with its interval; None without n."""
    if not record.n:
        return None
    value = getattr(record, metric)
    low, high = wilson_interval(value, record.n, z)
    return Interval(epoch=record.epoch, value=value, low=low, high=high, n=record.n)


def linear_trend(values: list[float]) -> tuple[float, float | None]:
    """(slope per step, its standard error) of a least-squares line through values at 0, 1, 2, ...;
    the standard error is None for two points."""
    count = len(values)
    if count < 2:
        raise ValueError(f"a trend needs at least 2 values, got {count}")
    xs = range(count)
    x_mean, y_mean = fmean(xs), fmean(values)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    slope = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, values, strict=True)) / sxx
    if count < 3:
        return slope, None
    residuals = [y - (y_mean + slope * (x - x_mean)) for x, y in zip(xs, values, strict=True)]
    return slope, math.sqrt(sum(r * r for r in residuals) / (count - 2) / sxx)


def robust_spikes(values: list[float], series: str, lookback: int, threshold: float) -> list[Spike]:
    """Values whose robust z-score over the previous `lookback` finite values is above `threshold`."""
    spikes: list[Spike] = []
    for index in range(lookback, len(values)):
        previous = [v for v in values[index - lookback : index] if math.isfinite(v)]
        value = values[index]
        if len(previous) < 3 or not math.isfinite(value):
            continue
        centre = median(previous)
        mad = median(abs(v - centre) for v in previous)
        scale = max(MAD_TO_SIGMA * mad, MIN_SCALE_FRACTION * abs(centre), 1e-12)
        robust_z = (value - centre) / scale
        if robust_z > threshold:
            spikes.append(
                Spike(
                    series=series,
                    index=index,
                    value=value,
                    median=centre,  # type: ignore[arg-type]
                    robust_z=robust_z,
                )
            )
    return spikes


def trajectory(evaluations: list[EpochRecord]) -> list[EpochRecord]:
    """The evaluations of the weights being trained: an epoch evaluated again replaces it and later ones."""
    kept: list[EpochRecord] = []
    for record in evaluations:
        kept = [earlier for earlier in kept if earlier.epoch < record.epoch]
        kept.append(record)
    return kept


def _best(records: list[EpochRecord], metric: str, z: float) -> Interval | None:
    scored = [r for r in records if r.n]
    if not scored:
        return None
    return interval(max(scored, key=lambda r: getattr(r, metric)), metric, z)


def _instability(
    window: MetricWindow, last: EpochRecord, t: EvidenceThresholds, spikes: list[Spike]
) -> list[str]:
    reasons = []
    if not math.isfinite(last.val_loss):
        reasons.append(f"val loss {last.val_loss} at epoch {last.epoch}")
    for name, values in (("step loss", window.step_losses), ("gradient norm", window.step_grad_norms)):
        bad = sum(1 for v in values if not math.isfinite(v))
        if bad:
            reasons.append(f"{bad} non-finite {name}(es) in the window")
    if len(spikes) >= t.unstable_spikes:
        worst = max(spikes, key=lambda s: s.robust_z)
        reasons.append(
            f"{len(spikes)} spikes (>= unstable_spikes {t.unstable_spikes}); worst {worst.series} "
            f"{worst.value:.4g} against median {worst.median:.4g} (robust z {worst.robust_z:.1f} > "
            f"{t.spike_z:g})"
        )
    return reasons


def _regressions(pairs: list[tuple[str, Interval | None, Interval | None]]) -> list[str]:
    return [
        f"{name} {last.text()} is below the best before it, {best.text()}, beyond both intervals"
        for name, last, best in pairs
        if last and best and last.high < best.low
    ]


def _loss_regression(
    before: list[EpochRecord], last: EpochRecord, exact: Interval | None, t: EvidenceThresholds
) -> list[str]:
    finite = [r for r in before if math.isfinite(r.val_loss)]
    if not finite or not math.isfinite(last.val_loss):
        return []
    best = min(finite, key=lambda r: r.val_loss)
    rise = -_gain(best.val_loss, last.val_loss)
    if rise <= t.loss_regression_tolerance:
        return []
    reference = interval(best, "exact_match", t.z)
    if exact and reference and exact.low > reference.high:
        return []  # the answers got better beyond noise: a higher loss alone is no regression
    answers = f"exact match {exact.text()}" if exact else "exact match (not graded)"
    return [
        f"val loss {last.val_loss:.4g} is {rise:.2%} above the best before it ({best.val_loss:.4g} at epoch "
        f"{best.epoch}; > loss_regression_tolerance {t.loss_regression_tolerance:.2%}), and {answers} did "
        f"not rise beyond its interval"
    ]


def _improvements(trend_records: list[EpochRecord], trend: Trend | None, t: EvidenceThresholds) -> list[str]:
    reasons = []
    losses = [r.val_loss for r in trend_records]
    if len(losses) >= 2 and all(math.isfinite(v) for v in losses):
        best_before = min(losses[:-1])
        gain = _gain(best_before, losses[-1])
        if gain > t.plateau_tolerance:
            reasons.append(
                f"val loss {losses[-1]:.4g} is {gain:.2%} below the best before it ({best_before:.4g}; "
                f"> plateau_tolerance {t.plateau_tolerance:.2%})"
            )
    if trend is not None and trend.standard_error is not None:
        pessimistic = -(trend.slope + t.z * trend.standard_error) / max(abs(trend.mean_loss), 1e-12)
        if pessimistic > t.plateau_tolerance:
            reasons.append(
                f"val loss slope {trend.slope:.4g} ± {t.z:g} × {trend.standard_error:.3g} per evaluation: "
                f"even "
                f"the pessimistic slope gains {pessimistic:.2%} of the val loss (> plateau_tolerance "
                f"{t.plateau_tolerance:.2%})"
            )
    first = trend_records[0]
    last = trend_records[-1]
    for metric, name in (("exact_match", "exact match"), ("format_validity", "validity")):
        before, after = interval(first, metric, t.z), interval(last, metric, t.z)
        if len(trend_records) >= 2 and before and after and after.low > before.high:
            reasons.append(f"{name} rose from {before.text()} to {after.text()}, beyond both intervals")
    return reasons


def _trend(records: list[EpochRecord]) -> Trend | None:
    losses = [r.val_loss for r in records]
    if len(losses) < 2 or not all(math.isfinite(v) for v in losses):
        return None
    slope, se = linear_trend(losses)
    return Trend(epochs=[r.epoch for r in records], slope=slope, standard_error=se, mean_loss=fmean(losses))


def _gain(best_before: float, value: float) -> float:
    """The relative val-loss gain of `value` over `best_before` (positive: lower loss)."""
    return (best_before - value) / max(abs(best_before), 1e-12)


def _no_progress(trend_records: list[EpochRecord], trend: Trend | None, t: EvidenceThresholds) -> str | None:
    """Why the trend shows no progress (a plateau), or None while the val loss still falls.

    "Not proven improving" is not a plateau: a loss falling by more than the tolerance per evaluation, but
    with too few points for its pessimistic slope to prove it, is left alone."""
    if len(trend_records) < t.plateau_evals or trend is None:
        return None
    slope_gain = -trend.slope / max(abs(trend.mean_loss), 1e-12)
    if slope_gain <= t.plateau_tolerance:
        return (f"the val loss slope gains {slope_gain:.2%} of the val loss per evaluation "
                f"(<= plateau_tolerance {t.plateau_tolerance:.2%})")
    losses = [r.val_loss for r in trend_records]
    recent = range(len(losses) - t.plateau_evals + 1, len(losses))
    if all(_gain(min(losses[:i]), losses[i]) <= t.plateau_tolerance for i in recent):
        return (f"none of the last {t.plateau_evals - 1} evaluations gained more than plateau_tolerance "
                f"{t.plateau_tolerance:.2%} over the best before it")
    return None


def _beyond_doubt(trend: Trend | None, t: EvidenceThresholds) -> tuple[bool, str]:
    if trend is None or trend.standard_error is None or len(trend.epochs) < t.early_stop_evals:
        return False, ""
    optimistic = -(trend.slope - t.z * trend.standard_error) / max(abs(trend.mean_loss), 1e-12)
    text = (
        f"even the most optimistic slope gains {optimistic:.2%} of the val loss per evaluation "
        f"({'<' if optimistic < t.plateau_tolerance else '>='} plateau_tolerance {t.plateau_tolerance:.2%})"
    )
    return optimistic < t.plateau_tolerance, text


def assess(window: MetricWindow, thresholds: EvidenceThresholds | None = None) -> Evidence:
    """The evidence of `window` (pure, deterministic); see the module docstring for every rule."""
    t = thresholds or EvidenceThresholds()
    evaluations = [*window.earlier_epochs, *window.epochs]
    kept = trajectory(evaluations)
    last, before = kept[-1], evaluations[:-1]
    exact, validity = interval(last, "exact_match", t.z), interval(last, "format_validity", t.z)
    best_exact, best_validity = _best(before, "exact_match", t.z), _best(before, "format_validity", t.z)
    spikes = [
        *robust_spikes(window.step_losses, "loss", t.spike_lookback, t.spike_z),
        *robust_spikes(window.step_grad_norms, "grad_norm", t.spike_lookback, t.spike_z),
    ]
    trend_records = kept[-t.trend_evals :]
    trend = _trend(trend_records)
    numbers = {
        "evaluations": len(kept),
        "exact_match": exact,
        "validity": validity,
        "best_exact_match": best_exact,
        "best_validity": best_validity,
        "trend": trend,
        "spikes": spikes,
    }
    verdict: Verdict
    if reasons := _instability(window, last, t, spikes):
        verdict = "unstable"
    elif reasons := [
        *_regressions([("exact match", exact, best_exact), ("validity", validity, best_validity)]),
        *_loss_regression(before, last, exact, t),
    ]:
        verdict = "regressing"
    elif reasons := _improvements(trend_records, trend, t):
        verdict = "improving"
    elif flat := _no_progress(trend_records, trend, t):
        verdict = "plateaued"
        doubtless, why = _beyond_doubt(trend, t)
        reasons = [
            f"no gain beyond noise over the last {len(trend_records)} evaluations: {flat}"
            + (f"; {why}" if why else "")
        ]
        return Evidence(verdict=verdict, reasons=reasons, plateau_beyond_doubt=doubtless, **numbers)
    elif len(trend_records) >= t.plateau_evals and trend is not None:
        verdict = "inconclusive"
        reasons = [
            f"the val loss still falls ({-trend.slope / max(abs(trend.mean_loss), 1e-12):.2%} of it per "
            f"evaluation over {len(trend_records)} evaluations), not yet beyond noise, and no plateau"
        ]
    else:
        verdict = "inconclusive"
        reasons = [
            f"{len(trend_records)} evaluation(s) on the trajectory (plateau_evals {t.plateau_evals}), and "
            "no gain beyond noise yet"
        ]
    return Evidence(verdict=verdict, reasons=reasons, **numbers)
