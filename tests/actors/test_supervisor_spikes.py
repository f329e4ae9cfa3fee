"""Steps the spike guard skipped reach the supervisor: spike_skips of them within spike_window_steps halve the
LR, the next burst in the phase rolls back; each skip is a line in the specialist's event file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from policies.decision_log import read_log
from tests.actors.inprocess import build, fast
from tests.actors.run_configs import tiny_run_data


def skipped(step: int) -> dict[str, Any]:
    return {"kind": "step_skipped", "specialist": "ascii", "phase": "main", "epoch": 0, "step": step,
            "time": time.time(), "reason": "loss_spike", "value": 9.5, "median": 2.0, "robust_z": 12.0,
            "z_threshold": 6.0, "skipped_in_phase": 1}


@pytest.fixture
def supervisor(tmp_path: Path) -> Any:
    supervisor, _, _ = build(fast(tiny_run_data(tmp_path, "spikes", specialists=("ascii",))))
    start = {"kind": "phase_start", "specialist": "ascii", "phase": "main", "epoch": 0, "step": 0,
             "time": time.time(), "resumed_from": None, "skipped_checkpoints": [], "total_steps": 100,
             "peak_lr": 1e-3, "micro_batch": 8, "grad_accum": 1}
    supervisor.report("ascii", start)
    return supervisor


def spike_decisions(supervisor: Any) -> list[Any]:
    return [r for r in read_log(supervisor.log_path) if r.trigger.kind == "spikes"]


@pytest.mark.parametrize(("steps", "decided"), [([10, 20, 60], False), ([11, 20, 60], True)],
                         ids=["first-skip-just-outside-the-window", "all-within-the-window"])
def test_skips_within_the_window_make_a_decision(supervisor: Any, steps: list[int], decided: bool) -> None:
    for step in steps:  # spike_window_steps 50: at step 60 the window holds steps 11..60
        supervisor.report("ascii", skipped(step))
    records = spike_decisions(supervisor)
    assert bool(records) is decided
    if decided:
        (record,) = records
        assert (record.action, record.step, record.trigger.skips) == ("halve_lr", 60, 3)
        assert record.params_after.peak_lr == record.params_before.peak_lr / 2
        assert record.outcome is not None and record.outcome.detail == "sent to trainer:ascii: set_lr"


def test_the_next_burst_in_the_phase_rolls_back_and_each_skip_is_an_event(supervisor: Any) -> None:
    for step in (1, 2, 3, 4, 5, 6):
        supervisor.report("ascii", skipped(step))
    assert [(r.action, r.step, r.checkpoint) for r in spike_decisions(supervisor)] == [
        ("halve_lr", 3, None), ("rollback", 6, "last_good")]
    lines = (supervisor.run_dir / "events" / "ascii.jsonl").read_text().splitlines()
    skips = [e for e in map(json.loads, lines) if e["type"] == "skip"]
    expected = [(n, "loss_spike", 12.0) for n in range(1, 7)]
    assert [(e["step"], e["reason"], e["robust_z"]) for e in skips] == expected
