"""Fault signals: non-finite values caught before the update, OOM with its micro-batch, crash, hang."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import torch
from safetensors.torch import load_file

from training.events import Event, Fault, StepMetrics
from training.faults import InjectedCrash, is_out_of_memory
from training.hooks import FaultAction
from training.recipe import train_specialist

from .conftest import Recorder


def adapter_and_moments(checkpoint):  # type: ignore[no-untyped-def]
    weights = load_file(str(checkpoint / "adapter" / "adapter_model.safetensors"))
    optimizer = torch.load(checkpoint / "trainer_state.pt", weights_only=True)["optimizer"]["state"]
    return weights, optimizer


def test_nan_loss_is_caught_before_the_optimizer_step(make_config) -> None:  # type: ignore[no-untyped-def]
    faulty = make_config({"specialists": {"ascii": {"faults": {"main": {"nan_at_step": 3}}}}})
    recorder = Recorder()
    result = train_specialist(faulty, "ascii", hooks=recorder, resume=False)
    [fault] = recorder.of_kind("fault")
    assert (fault.fault, fault.step, fault.injected, fault.micro_batch) == ("non_finite", 3, True, 8)
    assert fault.values["loss"] != fault.values["loss"]  # NaN
    assert "non-finite loss at step 3; the update was not applied" in fault.message
    assert result.status == "faulted"
    assert "non_finite at step 3" in result.phases[0].reason
    assert [e.step for e in recorder.of_kind("step")] == [1, 2]

    # The same run stopped cleanly after step 2 holds the same weights and optimizer moments.
    clean = make_config()
    stopper = Recorder()
    stopper._event_callback = lambda e: stopper.stop() if isinstance(e, StepMetrics) and e.step == 2 else None
    reference = train_specialist(clean, "ascii", hooks=stopper, resume=False)
    weights_after_fault, moments_after_fault = adapter_and_moments(result.final_checkpoint)
    weights_clean, moments_clean = adapter_and_moments(reference.final_checkpoint)
    assert all(torch.equal(weights_after_fault[k], weights_clean[k]) for k in weights_clean)
    for index, moments in moments_clean.items():
        assert torch.equal(moments["exp_avg"], moments_after_fault[index]["exp_avg"])
        assert int(moments["step"]) == int(moments_after_fault[index]["step"]) == 2


def test_skip_step_decision_drops_the_batch_and_goes_on(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"nan_at_step": 3}}}}})
    recorder = Recorder(on_fault=lambda fault: FaultAction.SKIP_STEP)
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    assert result.status == "completed"
    assert [e.step for e in recorder.of_kind("step")] == [1, 2, *range(4, 13)]


def test_rollback_with_halved_lr_recovers(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"nan_at_step": 8}}}}})
    recorder = Recorder()

    def decide(fault: Fault) -> FaultAction:
        recorder.set_lr(0.0015)
        return FaultAction.ROLLBACK

    recorder._fault_callback = decide
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    assert result.status == "completed"
    [rollback] = recorder.of_kind("rollback")
    assert rollback.checkpoint.endswith("-e1-s6")  # the epoch-1 checkpoint, before the faulty step 8
    steps = recorder.of_kind("step")
    replayed = [e for e in steps if e.time > rollback.time]
    assert replayed[0].step == 7 and all(e.peak_lr == 0.0015 for e in replayed)
    assert len(result.phases[0].step_losses) == 12


def test_simulated_oom_reports_the_micro_batch_and_rolls_back_to_a_smaller_batch(make_config) -> None:  # type: ignore[no-untyped-def]
    # What the supervisor's shrink_batch does: halve the micro-batch, double accumulation, roll back.
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"oom_at_step": 2}}}}})
    recorder = Recorder()

    def shrink(fault: Fault) -> FaultAction:
        recorder.set_batch(fault.micro_batch // 2, fault.grad_accum * 2)
        return FaultAction.ROLLBACK

    recorder._fault_callback = shrink
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    [fault] = recorder.of_kind("fault")
    assert (fault.fault, fault.step, fault.micro_batch, fault.grad_accum) == ("oom", 2, 8, 1)
    assert "simulated out of memory (oom_at_step=2, micro_batch=8)" in fault.message
    steps = recorder.of_kind("step")
    # Step 1 ran at 8 x 1; the OOM at step 2 rolled back to the phase's start, which runs again at 4 x 2.
    assert [(e.step, e.micro_batch, e.grad_accum) for e in steps[:3]] == [(1, 8, 1), (1, 4, 2), (2, 4, 2)]
    assert result.status == "completed"
    # The loss is normalised per step, so halving the micro-batch leaves it (numerically) unchanged.
    plain = train_specialist(make_config(), "ascii", resume=False)
    assert result.phases[0].step_losses == pytest.approx(plain.phases[0].step_losses, abs=1e-4)


def test_oom_without_a_decision_stops_the_phase(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"oom_at_step": 1}}}}})
    result = train_specialist(config, "ascii", resume=False)
    assert result.status == "faulted"
    assert "oom at step 1" in result.phases[0].reason


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (
            RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory"),
            True,
        ),
        (MemoryError(), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_out_of_memory_recognition(error: BaseException, expected: bool) -> None:
    assert is_out_of_memory(error) is expected


def test_injected_crash_raises_after_a_fault_event_and_does_not_fire_again(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"crash_at_step": 4}}}}})
    recorder = Recorder()
    with pytest.raises(InjectedCrash, match=r"injected crash \(crash_at_step=4\)"):
        train_specialist(config, "ascii", hooks=recorder, resume=False)
    [fault] = recorder.of_kind("fault")
    assert (fault.fault, fault.step, fault.injected) == ("exception", 4, True)
    restarted = train_specialist(config, "ascii", resume=True)
    assert restarted.status == "completed"
    assert restarted.phases[0].resumed_from is not None
    assert restarted.phases[0].resumed_from.name.endswith("-e0-s0")


def test_injected_hang_sends_no_heartbeats_until_stopped(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"hang_at_step": 2}}}}})
    recorder = Recorder()
    timer = threading.Timer(0.8, recorder.stop, args=("watchdog: missed heartbeats",))
    started = time.time()

    def stop_soon_after_step_one(event: Event) -> None:
        # Timed from the specialist's own step 1, not from the call: the foundation may train first.
        if isinstance(event, StepMetrics) and event.specialist == "ascii" and event.step == 1:
            timer.start()

    recorder._event_callback = stop_soon_after_step_one
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    timer.join()
    assert result.status == "stopped" and result.phases[0].reason == "watchdog: missed heartbeats"
    beats = [e.time for e in recorder.of_kind("heartbeat") if e.time > started]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert max(gaps) >= 0.6  # heartbeat_interval_s is 0.05 in these configs


def test_a_full_disk_fails_one_epoch_checkpoint_and_training_goes_on(  # type: ignore[no-untyped-def]
    make_config,
) -> None:
    """The injected ENOSPC hits the first epoch checkpoint at or after step 4 (epoch 1 ends at step 6)."""
    config = make_config({"specialists": {"ascii": {"faults": {"main": {"disk_full_at_step": 4}}}}})
    recorder = Recorder()
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    [failed] = recorder.of_kind("checkpoint_failed")
    assert failed.step == 6
    assert "No space left on device" in failed.message
    # The previous checkpoint (the phase start) is what a resume would use, and it is intact.
    assert failed.previous_checkpoint is not None and failed.previous_checkpoint.endswith("-s0")
    saved_steps = [event.step for event in recorder.of_kind("checkpoint")]
    assert 6 not in saved_steps and saved_steps[-1] == 12
    assert result.status == "completed"
    assert [event.step for event in recorder.of_kind("step")] == list(range(1, 13))
