"""The skip-step guard: robust z-score boundaries, arming, and a spiking step skipped inside the recipe."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from settings.errors import ConfigError
from settings.recipe import SpikeGuardSection, config_from_dict
from training.events import EpochEval
from training.hooks import FaultAction
from training.plan import TrainState
from training.recipe import train_specialist
from training.spike_guard import SpikeGuard

from .conftest import Recorder, merge, tiny_config_dict

# Window 1..5: median 3, median absolute deviation 1, so one robust sigma is 1.4826 (MAD for normal data).
WINDOW = [1.0, 2.0, 3.0, 4.0, 5.0]
SIGMA = 1.4826


def primed(z_threshold: float, values: list[float] = WINDOW, min_window: int = 5) -> SpikeGuard:
    guard = SpikeGuard(SpikeGuardSection(window=8, min_window=min_window, z_threshold=z_threshold))
    for value in values:
        assert guard.check(value, value) is None
    return guard


def test_a_loss_exactly_at_the_threshold_is_kept_and_just_above_is_skipped() -> None:
    at = 3.0 + 6.0 * SIGMA
    threshold = (at - 3.0) / SIGMA  # 6 up to rounding; taken as the threshold so the row is exact
    assert primed(threshold).check(at, 3.0) is None
    guard = primed(threshold)
    spike = guard.check(at + 1e-9, 3.0)
    assert spike is not None
    assert (spike.reason, spike.median, guard.skipped) == ("loss_spike", 3.0, 1)
    assert spike.robust_z == pytest.approx(6.0, abs=1e-6)


def test_a_gradient_norm_spike_is_skipped_with_its_own_reason() -> None:
    spike = primed(6.0).check(3.0, 3.0 + 6.5 * SIGMA)
    assert spike is not None
    assert (spike.reason, spike.value, spike.median) == ("grad_norm_spike", 3.0 + 6.5 * SIGMA, 3.0)
    assert spike.robust_z == pytest.approx(6.5)
    assert primed(6.0).check(3.0, 3.0 + 5.9 * SIGMA) is None


def test_only_spikes_upward_count() -> None:
    assert primed(6.0).check(3.0 - 100 * SIGMA, 3.0 - 100 * SIGMA) is None


def test_a_near_constant_window_uses_one_percent_of_the_median_as_its_scale() -> None:
    # MAD 0: the scale is 0.01 * 2.0 = 0.02, so 2.12 is exactly 6 scales above the median.
    at = 2.12
    threshold = (at - 2.0) / 0.02
    assert primed(threshold, [2.0] * 5).check(at, 2.0) is None
    assert primed(threshold, [2.0] * 5).check(at + 1e-9, 2.0) is not None


def test_the_guard_is_not_armed_before_min_window_steps() -> None:
    guard = primed(6.0, WINDOW[:4])  # four steps seen, five needed
    assert guard.check(1000.0, 1000.0) is None
    assert guard.check(1000.0, 1000.0) is not None  # now five are seen, and 1000 is still far out
    disabled = SpikeGuard(SpikeGuardSection(enabled=False, window=8, min_window=2))
    assert [disabled.check(v, v) for v in [1.0, 1.0, 1000.0]] == [None, None, None]


def test_skipped_values_enter_the_window_so_a_lasting_new_level_becomes_normal() -> None:
    guard = primed(6.0, WINDOW, min_window=5)
    verdicts = [guard.check(50.0, 3.0) for _ in range(8)]
    # The window holds 8: once four 50s are in it (half), the median is 27.5, the MAD 22.5, and 50 is normal.
    assert [v is not None for v in verdicts] == [True, True, True, True, False, False, False, False]
    assert guard.skipped == 4
    assert list(guard.losses) == [50.0] * 8


def test_the_state_round_trips_so_a_restored_guard_judges_alike() -> None:
    guard = primed(6.0)
    restored = SpikeGuard(guard.settings, guard.state_dict())
    assert restored.check(3.0 + 7 * SIGMA, 3.0) is not None
    assert guard.check(3.0 + 7 * SIGMA, 3.0) is not None
    assert restored.state_dict() == guard.state_dict()


def test_min_window_above_window_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = merge(tiny_config_dict(tmp_path), {"training": {"spike_guard": {"window": 8, "min_window": 9}}})
    with pytest.raises(
        ConfigError, match=r"training\.spike_guard\.min_window: must be <= window \(8\), got 9"
    ):
        config_from_dict(data)


# --------------------------------------------------------------------------------- inside the recipe
# The tiny fixture: 48 examples, micro-batch 8, so 6 steps per epoch.

# The injected spike (loss x100) lands thousands of sigmas out; 50 keeps the tiny model's own noisy
# gradient norms (8 sigmas seen in a 12-step window) from adding skips these tests do not name.
GUARD = {"window": 8, "min_window": 4, "z_threshold": 50.0}


def with_guard(make_config, faults: dict, epochs: int = 2, guard: dict = GUARD):  # type: ignore[no-untyped-def]
    return make_config(
        {
            "training": {"spike_guard": guard},
            "specialists": {
                "ascii": {"faults": {"main": faults}, "phases": [{"name": "main", "epochs": epochs}]}
            },
        }
    )


def test_an_injected_spike_is_skipped_counted_and_leaves_the_weights_as_a_skipped_nan_step_does(
    make_config,
) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    spiked = train_specialist(
        with_guard(make_config, {"spike_at_step": 9}), "ascii", hooks=recorder, resume=False
    )
    assert spiked.status == "completed"
    [skipped] = recorder.of_kind("step_skipped")
    assert (skipped.step, skipped.epoch, skipped.reason, skipped.skipped_in_phase) == (9, 1, "loss_spike", 1)
    assert skipped.robust_z > 50.0 and skipped.value > 20 * skipped.median
    assert [e.step for e in recorder.of_kind("step")] == [*range(1, 9), 10, 11, 12]
    assert spiked.phases[0].spike_skipped_steps == 1

    # The same step dropped by the NaN path (skip decision): same counters, same schedule, same weights.
    nan_config = with_guard(make_config, {"nan_at_step": 9})
    nan_recorder = Recorder(on_fault=lambda fault: FaultAction.SKIP_STEP)
    dropped = train_specialist(nan_config, "ascii", hooks=nan_recorder, resume=False)
    # The NaN path stays the NaN path with the guard armed: a fault for the hooks to decide, not a skip.
    assert [(f.fault, f.step) for f in nan_recorder.of_kind("fault")] == [("non_finite", 9)]
    assert nan_recorder.of_kind("step_skipped") == []
    assert dropped.phases[0].steps == spiked.phases[0].steps == 12
    assert dropped.phases[0].step_losses == spiked.phases[0].step_losses
    weights_spiked = load_file(str(spiked.final_checkpoint / "adapter" / "adapter_model.safetensors"))
    weights_dropped = load_file(str(dropped.final_checkpoint / "adapter" / "adapter_model.safetensors"))
    assert all(torch.equal(weights_spiked[k], weights_dropped[k]) for k in weights_dropped)


def test_a_spike_before_the_guard_is_armed_is_applied(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    result = train_specialist(
        with_guard(make_config, {"spike_at_step": 3}), "ascii", hooks=recorder, resume=False
    )
    assert recorder.of_kind("step_skipped") == []
    steps = recorder.of_kind("step")
    assert [e.step for e in steps][:4] == [1, 2, 3, 4]
    assert steps[2].loss > 20 * steps[1].loss  # the spike went through: only 2 steps were in the window
    assert result.phases[0].spike_skipped_steps == 0


def test_resume_with_the_guard_on_reproduces_the_loss_curve(make_config) -> None:  # type: ignore[no-untyped-def]
    # The spike comes after the resume and needs the 12 steps before it in the window: a resume that lost
    # the guard's window would apply it, and the curves would part.
    guard = {**GUARD, "window": 16, "min_window": 12}
    straight_recorder = Recorder()
    straight = train_specialist(
        with_guard(make_config, {"spike_at_step": 15}, 4, guard),
        "ascii",
        hooks=straight_recorder,
        resume=False,
    )
    halves = with_guard(make_config, {"spike_at_step": 15}, 4, guard)
    stopper = Recorder()
    stopper._event_callback = lambda e: stopper.stop() if isinstance(e, EpochEval) and e.epoch == 1 else None
    first = train_specialist(halves, "ascii", hooks=stopper, resume=False)
    assert first.status == "stopped" and first.phases[0].steps == 12
    recorder = Recorder()
    second = train_specialist(halves, "ascii", hooks=recorder, resume=True)
    assert [e.step for e in straight_recorder.of_kind("step_skipped")] == [15]
    assert [(e.step, e.skipped_in_phase) for e in recorder.of_kind("step_skipped")] == [(15, 1)]
    expected, resumed = straight.phases[0].step_losses, second.phases[0].step_losses
    assert len(expected) == len(resumed) == 23
    assert max(abs(a - b) for a, b in zip(expected, resumed, strict=True)) < 1e-6
    assert all(math.isfinite(loss) for loss in resumed)


def test_a_checkpoint_from_before_the_guard_resumes_with_an_empty_window() -> None:
    payload = {
        "micro_batch": 8, "grad_accum": 1, "epoch": 1, "cursor": 0, "step": 6, "examples_seen": 48,
        "step_losses": [], "evals": [],
    }  # fmt: skip
    assert TrainState.from_payload(payload).spike_guard == {}
    assert TrainState.from_payload({**payload, "spike_guard": {"skipped": 2}}).spike_guard == {"skipped": 2}
