"""The deterministic 100-point rubric: each band is a measurable rule, its threshold in `RubricThresholds`.

Rules (n = number of points judged; "quarter" = the first or last max(1, n // 4) points):

loss convergence (30). The curve is the per-step losses, or the per-epoch val losses when there are fewer
than `min_steps_for_curve` steps (spikes are then not counted).
  - diverging 0: any non-finite loss, or mean(last quarter) > mean(first quarter) × `diverge_ratio`.
  - erratic 10: spikes in more than `erratic_spike_fraction` of the judged steps, or the curve rose
    (last-quarter mean above first-quarter mean) without reaching the divergence ratio.
  - some spikes 20: at least one spike, otherwise non-increasing.
  - smooth decrease 30: no spike and last-quarter mean <= first-quarter mean.
  A spike is a step whose loss exceeds `spike_ratio` × the median of the previous `spike_lookback` losses and
  also exceeds that median by at least `spike_min_delta` (so jitter near zero loss is not a spike).

validation accuracy (30), on the last epoch's exact match: > `accuracy_excellent` 30, >= `accuracy_good` 25,
  >= `accuracy_fair` 20, otherwise 10.

format correctness (20), on the last epoch's format validity: >= `format_perfect` 20 (perfect),
  >= `format_minor` 15 (minor errors), otherwise 5 (major errors).

progress consistency (20), on the per-epoch val loss and exact match:
  - regression 0: the last exact match is below the window's best by more than `regression_tolerance`.
  - An epoch is flat when its val loss improved on the previous epoch's by less than `stall_tolerance`
    (relative), or is non-finite. A plateau is `plateau_epochs` consecutive flat epochs.
  - stall 10: the window ends in a plateau (for windows of p epochs, p - 1 flat epochs suffice when that is
    fewer than `plateau_epochs`).
  - plateau handled 15: an earlier plateau ended in an improving epoch (`lr_changed_after_plateau` in the
    measured numbers says whether an LR change did it).
  - steady improvement 20: no plateau. A one-epoch window has no trend and gets 20.

Hard faults: any fault in the window (reported by the trainer, or a non-finite loss found in the numbers)
caps the score at `hard_fault_cap` (59 by default), so the letter is F whatever the components say.
"""

from __future__ import annotations

import itertools
import math
from statistics import fmean, median

from agents.grade import COMPONENT_MAX_POINTS, Component, Grade, letter_for_score
from agents.metrics import MetricWindow
from settings.grader import RubricThresholds


def _component(name: str, points: int, measured: dict[str, float], reason: str) -> Component:
    return Component(name=name, points=points, max_points=COMPONENT_MAX_POINTS[name], measured=measured,
                     reason=reason)


def _quarter_means(curve: list[float]) -> tuple[float, float]:
    quarter = max(1, len(curve) // 4)
    return fmean(curve[:quarter]), fmean(curve[-quarter:])


def _trend_ratio(first: float, last: float) -> float:
    """last / first, made safe for a zero or negative first mean (losses are normally positive)."""
    if first > 0:
        return last / first
    return 1.0 if last <= first else math.inf


def count_spikes(curve: list[float], thresholds: RubricThresholds) -> tuple[int, int]:
    """(spikes, judged steps): steps after the first `spike_lookback` ones, compared to the rolling median."""
    lookback = thresholds.spike_lookback
    spikes = 0
    for index in range(lookback, len(curve)):
        reference = median(curve[index - lookback:index])
        loss = curve[index]
        if loss > thresholds.spike_ratio * reference and loss - reference >= thresholds.spike_min_delta:
            spikes += 1
    return spikes, max(0, len(curve) - lookback)


def grade_loss_convergence(window: MetricWindow, thresholds: RubricThresholds) -> Component:
    name = "loss_convergence"
    use_steps = len(window.step_losses) >= thresholds.min_steps_for_curve
    curve = list(window.step_losses) if use_steps else [record.val_loss for record in window.epochs]
    measured = {"points_judged": float(len(curve)), "used_val_loss_curve": float(not use_steps)}
    curve_name = "step loss" if use_steps else "val loss (too few step losses)"
    non_finite = sum(1 for loss in curve if not math.isfinite(loss))
    if non_finite:
        measured["non_finite"] = float(non_finite)
        return _component(name, 0, measured, f"diverging: {non_finite} non-finite {curve_name} value(s)")
    if len(curve) < 2:
        return _component(name, 30, measured, f"too few {curve_name} points ({len(curve)}) to judge a trend")
    first, last = _quarter_means(curve)
    ratio = _trend_ratio(first, last)
    spikes, judged = count_spikes(curve, thresholds) if use_steps else (0, 0)
    spike_fraction = spikes / judged if judged else 0.0
    measured.update(first_quarter_mean=first, last_quarter_mean=last, trend_ratio=ratio, spikes=float(spikes),
                    spike_fraction=spike_fraction)
    trend = f"{curve_name} quarter means {first:.4g} -> {last:.4g} (x{ratio:.3g})"
    if ratio > thresholds.diverge_ratio:
        return _component(name, 0, measured, f"diverging: {trend} > x{thresholds.diverge_ratio}")
    if spike_fraction > thresholds.erratic_spike_fraction:
        limit = thresholds.erratic_spike_fraction
        return _component(name, 10, measured,
                          f"erratic: {spikes}/{judged} steps spiked ({spike_fraction:.0%} > {limit:.0%})")
    if ratio > 1.0:
        return _component(name, 10, measured, f"erratic: rising, {trend}")
    if spikes:
        return _component(name, 20, measured, f"some spikes: {spikes}/{judged} steps spiked, {trend}")
    return _component(name, 30, measured, f"smooth decrease: no spikes, {trend}")


def grade_validation_accuracy(window: MetricWindow, thresholds: RubricThresholds) -> Component:
    exact_match = window.epochs[-1].exact_match
    measured = {"exact_match": exact_match}
    if exact_match > thresholds.accuracy_excellent:
        points, band = 30, f"above {thresholds.accuracy_excellent:.0%}"
    elif exact_match >= thresholds.accuracy_good:
        points, band = 25, f"{thresholds.accuracy_good:.0%}-{thresholds.accuracy_excellent:.0%}"
    elif exact_match >= thresholds.accuracy_fair:
        points, band = 20, f"{thresholds.accuracy_fair:.0%}-{thresholds.accuracy_good:.0%}"
    else:
        points, band = 10, f"below {thresholds.accuracy_fair:.0%}"
    return _component("validation_accuracy", points, measured, f"exact match {exact_match:.1%} is {band}")


def grade_format_correctness(window: MetricWindow, thresholds: RubricThresholds) -> Component:
    validity = window.epochs[-1].format_validity
    measured = {"format_validity": validity}
    if validity >= thresholds.format_perfect:
        points, band = 20, "perfect"
    elif validity >= thresholds.format_minor:
        points, band = 15, f"minor errors (>= {thresholds.format_minor:.0%})"
    else:
        points, band = 5, f"major errors (< {thresholds.format_minor:.0%})"
    return _component("format_correctness", points, measured, f"format validity {validity:.1%}: {band}")


def _relative_improvement(previous: float, current: float) -> float:
    if not (math.isfinite(previous) and math.isfinite(current)):
        return -math.inf
    return (previous - current) / max(abs(previous), 1e-12)


def grade_progress_consistency(window: MetricWindow, thresholds: RubricThresholds) -> Component:
    name = "progress_consistency"
    records = window.epochs
    exact = [record.exact_match for record in records]
    drop = max(exact) - exact[-1]
    measured: dict[str, float] = {"epochs": float(len(records)), "exact_match_drop": drop}
    if len(records) < 2:
        return _component(name, 20, measured, "one epoch: no trend to judge yet")
    if drop > thresholds.regression_tolerance:
        return _component(name, 0, measured, f"regression: exact match fell from best {max(exact):.1%} to "
                                             f"{exact[-1]:.1%} (> {thresholds.regression_tolerance:.1%})")
    improvements = [_relative_improvement(a.val_loss, b.val_loss) for a, b in itertools.pairwise(records)]
    flat = [gain < thresholds.stall_tolerance for gain in improvements]
    trailing = len(flat) - next((i for i in range(len(flat) - 1, -1, -1) if not flat[i]), -1) - 1
    measured.update(total_improvement=_relative_improvement(records[0].val_loss, records[-1].val_loss),
                    flat_epochs=float(sum(flat)), trailing_flat_epochs=float(trailing))
    if trailing >= min(thresholds.plateau_epochs, len(flat)):
        return _component(name, 10, measured, f"stall: last {trailing} epoch(s) improved val loss by less "
                                              f"than {thresholds.stall_tolerance:.1%} each")
    plateau = _last_plateau(flat, thresholds.plateau_epochs)
    if plateau is None:
        return _component(name, 20, measured, "steady improvement: no plateau of "
                                              f"{thresholds.plateau_epochs} flat epochs")
    # flat[i] describes records[i + 1]; the plateau covers records[start + 1 .. end + 1] and the epoch that
    # ended it is records[end + 2]. An LR change anywhere from the plateau's first epoch to that one counts.
    start, end = plateau
    recovered_at = records[end + 2]
    lr_changed = any(records[i].lr != records[i - 1].lr for i in range(start + 1, end + 3))
    measured["lr_changed_after_plateau"] = float(lr_changed)
    how = "after an LR change" if lr_changed else "without an LR change"
    return _component(name, 15, measured, f"plateau handled: {end - start + 1} flat epoch(s), val loss "
                                          f"improved again at epoch {recovered_at.epoch} {how}")


def _last_plateau(flat: list[bool], plateau_epochs: int) -> tuple[int, int] | None:
    """(first, last) index in `flat` of the last run of at least `plateau_epochs` flat epochs, if any."""
    found = None
    run_start = 0
    for index, is_flat in enumerate(flat):
        if not is_flat:
            run_start = index + 1
        elif index - run_start + 1 >= plateau_epochs:
            found = (run_start, index)
    return found


def grade_with_rubric(window: MetricWindow, thresholds: RubricThresholds | None = None) -> Grade:
    """Grade a window on the 100-point rubric; deterministic and pure."""
    thresholds = thresholds or RubricThresholds()
    components = [
        grade_loss_convergence(window, thresholds),
        grade_validation_accuracy(window, thresholds),
        grade_format_correctness(window, thresholds),
        grade_progress_consistency(window, thresholds),
    ]
    raw_score = sum(component.points for component in components)
    hard_faults = window.all_hard_faults()
    score = min(raw_score, thresholds.hard_fault_cap) if hard_faults else raw_score
    letter = letter_for_score(score)
    parts = "; ".join(f"{c.name} {c.points}/{c.max_points} ({c.reason})" for c in components)
    rationale = f"rubric {score}/100 ({letter}): {parts}"
    if hard_faults and score != raw_score:
        rationale += f". Hard fault ({'; '.join(hard_faults)}) caps {raw_score} at {score}"
    elif hard_faults:
        rationale += f". Hard fault: {'; '.join(hard_faults)}"
    return Grade(score=score, letter=letter, components=components, source="rubric", rationale=rationale,
                 hard_faults=hard_faults)
