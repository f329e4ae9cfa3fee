"""The supervisor-value bench's arithmetic: arm means, the noise interval, and a verdict per scenario (pure).

The verdicts follow issue 13's "Done when":
- fault_free: supervised is never worse than bare beyond the noise, on any metric;
- lr_too_high: supervised ends >= 10 points of exact match above bare, or bare diverged and supervised
  did not (diverged: ended no better than the starting weights, or faulted, or lost its loss);
- faults: supervised with the faults ends within noise of the fault-free supervised run;
- plateau: the same quality within noise in at most 80% of the bare wall time (the recipe's phase time) and,
  so that a load burst on the shared machine cannot pass or fail it alone, in at most 80% of its epochs.
"""

from __future__ import annotations

import math
from statistics import fmean
from typing import Any

from agents.evidence import wilson_interval

Z95 = 1.96
PROPORTIONS = ("exact_match", "format_validity")
METRICS = ("val_loss", *PROPORTIONS)
VAL_LOSS_NOISE_FLOOR = 0.01
"""The val-loss noise is at least this fraction of the bare mean (one seed has no spread to measure)."""
LR_GAIN = 0.10
"""lr_too_high: the exact-match points supervised must gain over bare (when bare did not diverge)."""
PLATEAU_TIME_RATIO = 0.8
"""plateau: supervised wall time (and epochs trained) at most this fraction of bare's."""
NOISE_METHOD = (
    "per metric, the larger of (1) the bare arm's seed spread (max - min over seeds) and (2) the "
    "measurement's own noise: the 95% Wilson half-width at the graded n for exact match and validity, 1% of "
    "the bare mean for val loss (no per-example losses are kept to do better); faults uses the fault-free "
    "bare arm's"
)

Run = dict[str, Any]
"""One arm of one seed: status, val_loss, exact_match, format_validity, n_graded, first_val_loss, wall_time_s
(see supervisor_value.py for every key)."""


def metric_value(run: Run, metric: str) -> float:
    """A run that never evaluated counts as the worst: infinite val loss, zero exact match and validity."""
    value = run.get(metric)
    if value is None or not math.isfinite(value):
        return math.inf if metric == "val_loss" else 0.0
    return float(value)


def arm_mean(runs: list[Run], metric: str) -> float:
    return fmean(metric_value(run, metric) for run in runs)


def noise(bare: list[Run]) -> dict[str, float]:
    """Per metric, the larger of the bare arm's seed-to-seed spread and the measurement's own noise: the
    95% Wilson half-width at the graded n for proportions, VAL_LOSS_NOISE_FLOOR of the mean for val loss."""
    result = {}
    for metric in METRICS:
        values = [metric_value(run, metric) for run in bare]
        finite = [value for value in values if math.isfinite(value)]
        spread = max(finite) - min(finite) if finite else 0.0
        mean = fmean(values)
        if metric == "val_loss":
            floor = VAL_LOSS_NOISE_FLOOR * mean if math.isfinite(mean) else 0.0
        else:
            n = min(int(run.get("n_graded") or 0) for run in bare)
            low, high = wilson_interval(mean, n, Z95) if n else (0.0, 1.0)
            floor = (high - low) / 2
        result[metric] = max(spread, floor)
    return result


def not_worse(bare: list[Run], supervised: list[Run], noise_by_metric: dict[str, float]) -> dict[str, bool]:
    """Per metric: supervised's mean is no worse than bare's by more than the noise."""
    checks = {}
    for metric in METRICS:
        gap = arm_mean(supervised, metric) - arm_mean(bare, metric)
        worse_by = gap if metric == "val_loss" else -gap
        checks[metric] = worse_by <= noise_by_metric[metric]
    return checks


def within(first: list[Run], second: list[Run], noise_by_metric: dict[str, float]) -> dict[str, bool]:
    """Per metric: the two arms' means differ by at most the noise (an infinite pair is equal)."""
    checks = {}
    for metric in METRICS:
        a, b = arm_mean(first, metric), arm_mean(second, metric)
        checks[metric] = a == b or abs(a - b) <= noise_by_metric[metric]
    return checks


def diverged(run: Run, start_val_loss: float | None = None) -> bool:
    """Not completed, a non-finite or missing final val loss, or a final val loss no better than the starting
    weights' (`start_val_loss`; without it, the run's first evaluation, which a fast blow-up spoils)."""
    if run.get("status") != "completed":
        return True
    final = metric_value(run, "val_loss")
    reference = start_val_loss if start_val_loss is not None else run.get("first_val_loss")
    return not math.isfinite(final) or (reference is not None and final >= reference)


def verdict_fault_free(bare: list[Run], supervised: list[Run]) -> dict[str, Any]:
    checks = not_worse(bare, supervised, noise(bare))
    return {
        "rule": "supervised never worse than bare beyond noise",
        "checks": checks,
        "pass": all(checks.values()),
    }


def verdict_lr_too_high(bare: list[Run], supervised: list[Run], start_val_loss: float | None = None
                        ) -> dict[str, Any]:
    gain = arm_mean(supervised, "exact_match") - arm_mean(bare, "exact_match")
    bare_diverged = all(diverged(run, start_val_loss) for run in bare)
    supervised_diverged = any(diverged(run, start_val_loss) for run in supervised)
    checks = {
        "exact_match_gain": round(gain, 4),
        "gain_at_least_10_points": gain >= LR_GAIN,
        "bare_diverged": bare_diverged,
        "supervised_diverged": supervised_diverged,
        "start_val_loss": start_val_loss,
    }
    passed = gain >= LR_GAIN or (bare_diverged and not supervised_diverged)
    return {"rule": "supervised >= bare + 10 points exact match, or bare diverged and supervised not",
            "checks": checks, "pass": passed}  # fmt: skip


def verdict_faults(
    supervised: list[Run], fault_free_supervised: list[Run], fault_free_bare: list[Run]
) -> dict[str, Any]:
    checks = within(supervised, fault_free_supervised, noise(fault_free_bare))
    return {"rule": "supervised with faults within noise of the fault-free supervised run", "checks": checks,
            "pass": all(checks.values())}  # fmt: skip


def phase_time(run: Run) -> float:
    """The recipe's own time for the phase when known (start-up excluded on both arms), else the wall."""
    return float(run.get("phase_wall_time_s") or run["wall_time_s"])


def epochs_ratio(bare: list[Run], supervised: list[Run]) -> float | None:
    """Supervised over bare mean epochs trained; None when an arm does not say."""
    if not all(run.get("epochs_trained") for run in [*bare, *supervised]):
        return None
    return fmean(run["epochs_trained"] for run in supervised) / fmean(run["epochs_trained"] for run in bare)


def verdict_plateau(bare: list[Run], supervised: list[Run]) -> dict[str, Any]:
    checks: dict[str, Any] = within(bare, supervised, noise(bare))
    ratio = fmean(map(phase_time, supervised)) / fmean(map(phase_time, bare))
    epochs = epochs_ratio(bare, supervised)
    checks["wall_time_ratio"] = round(ratio, 4)
    checks["at_most_80_percent_time"] = ratio <= PLATEAU_TIME_RATIO
    checks["epochs_ratio"] = None if epochs is None else round(epochs, 4)
    checks["at_most_80_percent_epochs"] = epochs is None or epochs <= PLATEAU_TIME_RATIO
    passed = (all(checks[metric] for metric in METRICS) and checks["at_most_80_percent_time"]
              and checks["at_most_80_percent_epochs"])
    return {
        "rule": "same quality within noise in <= 80% of the bare wall time and epochs",
        "checks": checks,
        "pass": passed,
    }
