"""The supervisor-value bench's verdicts (issue 13's "Done when" (a)-(d)), each threshold at its boundary."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import value_verdicts as v


def run(**changes: Any) -> dict[str, Any]:
    base = {"status": "completed", "val_loss": 2.0, "first_val_loss": 3.0, "exact_match": 0.5,
            "format_validity": 0.5, "n_graded": 64, "wall_time_s": 100.0}  # fmt: skip
    return {**base, **changes}


def test_noise_is_the_seed_spread_or_the_wilson_half_width_whichever_is_larger() -> None:
    # Proportions: 0.5 on 64 examples has a 95% Wilson half-width of 1.96 * sqrt(0.25/64 + 1.96²/(4*64²))
    # / (1 + 1.96²/64) = 1.96 * 0.0643484 / 1.060025 = 0.118981 (by hand; the interval is centred on 0.5).
    noise = v.noise([run(), run()])
    assert noise["exact_match"] == pytest.approx(0.118981, abs=1e-5)
    assert noise["val_loss"] == pytest.approx(0.02)  # 1% of 2.0: no spread between identical seeds
    spread = v.noise([run(exact_match=0.2), run(exact_match=0.8), run(val_loss=1.0), run(val_loss=3.0)])
    assert spread["exact_match"] == pytest.approx(0.6) and spread["val_loss"] == pytest.approx(2.0)


def test_a_run_that_never_evaluated_counts_as_the_worst() -> None:
    silent = run(val_loss=None, exact_match=None, format_validity=None)
    assert v.metric_value(silent, "val_loss") == math.inf
    assert v.metric_value(silent, "exact_match") == 0.0


def test_fault_free_passes_at_exactly_the_noise_and_fails_beyond_it() -> None:
    noise = {"val_loss": 0.25, "exact_match": 0.25, "format_validity": 0.25}
    bare = [run()]
    assert v.not_worse(bare, [run(exact_match=0.25, val_loss=2.25)], noise) == {
        "val_loss": True, "exact_match": True, "format_validity": True,
    }  # fmt: skip
    assert v.not_worse(bare, [run(exact_match=0.125, val_loss=2.5)], noise) == {
        "val_loss": False, "exact_match": False, "format_validity": True,
    }  # fmt: skip
    assert v.verdict_fault_free(bare, [run(exact_match=0.9, val_loss=1.0)])["pass"] is True
    assert v.verdict_fault_free(bare, [run(format_validity=0.0)])["pass"] is False


def test_lr_too_high_needs_ten_points_or_a_bare_divergence_the_supervised_night_avoided() -> None:
    bare = [run(exact_match=0.0, val_loss=2.0)]
    assert v.verdict_lr_too_high(bare, [run(exact_match=0.1)])["pass"] is True
    assert v.verdict_lr_too_high(bare, [run(exact_match=math.nextafter(0.1, 0.0))])["pass"] is False
    faulted = [run(status="faulted", exact_match=0.0)]
    assert v.verdict_lr_too_high(faulted, [run(exact_match=0.0)])["pass"] is True
    assert v.verdict_lr_too_high(faulted, [run(status="faulted", exact_match=0.0)])["pass"] is False


def test_divergence_is_a_fault_a_lost_loss_or_no_gain_on_the_first_evaluation() -> None:
    assert not v.diverged(run(val_loss=2.0, first_val_loss=3.0))
    assert v.diverged(run(val_loss=3.0, first_val_loss=3.0))  # boundary: no better than the first
    assert v.diverged(run(val_loss=float("nan")))
    assert v.diverged(run(status="crashed: InjectedCrash: injected crash (crash_at_step=3)"))


def test_faults_compare_the_supervised_night_with_its_fault_free_twin() -> None:
    reference = [run()]
    noise_bare = [run(exact_match=0.25), run(exact_match=0.75)]  # spread 0.5 on exact match
    inside = v.verdict_faults([run(exact_match=1.0)], reference, noise_bare)
    outside = v.verdict_faults([run(exact_match=0.0, format_validity=0.0)], reference, noise_bare)
    assert inside["checks"]["exact_match"] is True and inside["checks"]["val_loss"] is True
    assert outside["checks"]["exact_match"] is True  # 0.5 away: exactly the noise
    assert outside["checks"]["format_validity"] is False and outside["pass"] is False


def test_plateau_needs_the_same_quality_in_at_most_80_percent_of_the_time() -> None:
    bare = [run(wall_time_s=100.0)]
    assert v.verdict_plateau(bare, [run(wall_time_s=80.0)])["pass"] is True
    assert v.verdict_plateau(bare, [run(wall_time_s=80.5)])["pass"] is False
    # The recipe's own phase time, when both arms have it, is what is compared (start-up left out).
    timed = [run(wall_time_s=100.0, phase_wall_time_s=50.0)]
    assert v.verdict_plateau(timed, [run(wall_time_s=60.0, phase_wall_time_s=40.0)])["pass"] is True
    assert v.verdict_plateau(timed, [run(wall_time_s=30.0, phase_wall_time_s=40.5)])["pass"] is False
    worse = v.verdict_plateau(bare, [run(wall_time_s=50.0, format_validity=0.0)])
    assert worse["checks"]["at_most_80_percent_time"] is True and worse["pass"] is False


def test_divergence_is_judged_against_the_starting_weights_when_they_were_evaluated() -> None:
    # LR x10 spoils the model before its first evaluation: against that, the run "improved" (5.25 < 5.34);
    # against the starting weights (4.2) it ended worse than it began.
    spoiled = run(val_loss=5.25, first_val_loss=5.34)
    assert not v.diverged(spoiled)
    assert v.diverged(spoiled, start_val_loss=4.2)
    assert v.diverged(run(val_loss=4.2), start_val_loss=4.2)  # boundary: no better than the start
    assert not v.diverged(run(val_loss=math.nextafter(4.2, 0.0)), start_val_loss=4.2)
    checks = v.verdict_lr_too_high([spoiled], [run(val_loss=4.1, exact_match=0.0)], 4.2)["checks"]
    assert (checks["bare_diverged"], checks["supervised_diverged"]) == (True, False)


def test_plateau_also_needs_at_most_80_percent_of_the_epochs_so_load_alone_cannot_pass_it() -> None:
    bare = [run(wall_time_s=100.0, epochs_trained=10)]
    assert v.verdict_plateau(bare, [run(wall_time_s=50.0, epochs_trained=8)])["pass"] is True
    lucky = v.verdict_plateau(bare, [run(wall_time_s=50.0, epochs_trained=9)])
    assert lucky["checks"]["at_most_80_percent_time"] is True and lucky["pass"] is False
    assert lucky["checks"]["epochs_ratio"] == 0.9
