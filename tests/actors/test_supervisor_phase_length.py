"""Stop early and extend, end to end: real trainers in threads, the supervisor deciding on real evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.decision_log import read_log
from tests.actors.inprocess import build, events, fast, run_to_end
from tests.actors.run_configs import merged, tiny_run_data


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("phase-length")


def test_a_phase_still_improving_at_its_end_is_extended_within_max_extra_epochs(output_dir: Path) -> None:
    # 3 epochs, evaluated and graded after each: at the second (the next one would be the last) the val loss
    # of a freshly started specialist is still falling, so the phase gets max_extra_epochs (2) more. The tiny
    # model's val loss falls by about 0.1% an epoch, hence a finer plateau_tolerance; micro-batches of 2 make
    # an epoch 24 steps, long enough for the decision to reach the trainer before the phase ends.
    data = merged(fast(tiny_run_data(output_dir, "extend", specialists=("ascii",), epochs=3)), {
        "training": {"micro_batch_size": 2},
        "policies": {"max_extra_epochs": 2, "evidence": {"plateau_tolerance": 0.0001}},
    })
    supervisor, workers, config = build(data)
    state = run_to_end(supervisor, workers)
    assert state["specialists"]["ascii"]["state"] == "finished"
    records = [r for r in read_log(config.run_dir() / "decisions.jsonl") if r.specialist == "ascii"]
    (extension,) = [r for r in records if r.action == "extend_phase"]
    assert (extension.epoch, extension.params_before.epochs, extension.params_after.epochs) == (1, 3, 5)
    assert extension.trigger.evidence is not None and extension.trigger.evidence.verdict == "improving"
    assert extension.outcome is not None and extension.outcome.detail == "sent to trainer:ascii: set_epochs"
    # The trainer trained the two more epochs, and the new last evaluation selected the best checkpoint.
    assert trained_epochs(config.run_dir()) == [0, 1, 2, 3, 4]
    assert records[-1].action == "select_best" and records[-1].epoch == 4
    assert state["specialists"]["ascii"]["epochs_total"] == 5


def test_a_plateau_beyond_doubt_stops_the_phase_early(output_dir: Path) -> None:
    # An LR so small the weights barely move: the val loss is flat. At three evaluations (the starting
    # weights' counts) the plateau halves the LR; at four it is beyond doubt and the phase stops there
    # instead of training all six epochs.
    data = merged(fast(tiny_run_data(output_dir, "plateau", specialists=("ascii",), epochs=6)), {
        "specialists": {"ascii": {"phases": [{"name": "main", "epochs": 6, "learning_rate": 1e-9}]}},
        "policies": {"min_lr": 1e-12},
    })
    supervisor, workers, config = build(data)
    state = run_to_end(supervisor, workers)
    assert state["specialists"]["ascii"]["state"] == "finished"
    records = [r for r in read_log(config.run_dir() / "decisions.jsonl") if r.specialist == "ascii"]
    actions = [(r.epoch, r.action) for r in records if r.trigger.kind == "grade"]
    assert actions == [(0, "continue"), (1, "halve_lr"), (2, "stop_early")]
    stop = records[-1]
    assert (stop.params_before.epochs, stop.params_after.epochs) == (6, 3)
    assert stop.trigger.evidence is not None and stop.trigger.evidence.plateau_beyond_doubt
    phases = [(e["status"], e.get("reason")) for e in events(config.run_dir(), "ascii", "phase")]
    assert phases[-1] == ("finished", "stopped early after 3 epoch(s)")
    assert trained_epochs(config.run_dir()) == [0, 1, 2]


def trained_epochs(run_dir: Path) -> list[int]:
    """The epochs evaluated after training (the evaluation of the starting weights left out)."""
    return [e["epoch"] for e in events(run_dir, "ascii", "epoch") if not e.get("start")]
