"""set_epochs: a phase stopped early ends cleanly; an extended one trains on with its schedule stretched."""

from __future__ import annotations

import pytest

from training.hooks import TrainerHooks
from training.recipe import train_specialist

from .conftest import Recorder
from .test_hooks import at_step

STEPS_PER_EPOCH = 6  # 48 examples, micro-batch 8


def test_fewer_epochs_than_done_ends_the_phase_as_completed_at_the_next_boundary(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    at_step(recorder, STEPS_PER_EPOCH + 1, lambda: recorder.set_epochs(1))
    result = train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    (phase,) = result.phases
    assert (phase.status, phase.reason, phase.steps) == ("completed", "stopped early after 1 epoch(s)", 7)
    assert [e.step for e in recorder.of_kind("step")][-1] == STEPS_PER_EPOCH + 1
    [final] = [e for e in recorder.of_kind("checkpoint") if e.reason == "phase_end"]
    assert final.step == STEPS_PER_EPOCH + 1


def test_more_epochs_extend_the_phase_and_stretch_its_schedule(make_config) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    at_step(recorder, 2, lambda: recorder.set_epochs(3))
    result = train_specialist(make_config(), "ascii", hooks=recorder, resume=False)
    (phase,) = result.phases
    assert (phase.status, phase.epochs_completed, phase.steps) == ("completed", 3, 3 * STEPS_PER_EPOCH)
    lrs = [e.lr for e in recorder.of_kind("step")]
    # Stretched: at the old plan's end (step 12) the cosine is a quarter of the way from its end, not at 0.
    assert lrs[2 * STEPS_PER_EPOCH - 1] > 0.1 * lrs[2]
    assert [e.epoch for e in recorder.of_kind("epoch_eval") if not e.start] == [0, 1, 2]


def test_set_epochs_refuses_zero() -> None:
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        TrainerHooks().set_epochs(0)
