"""Smoke run of bench/supervision_overhead.py on the tiny config: both sides train, the JSON is complete."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.actors.run_configs import REPO_ROOT, tiny_run_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NUMBERS = (
    "bare_tokens_per_s",
    "supervised_tokens_per_s",
    "ratio",
    "paired_ratio_median",
    "bare_phase_wall_time_s",
    "supervised_phase_wall_time_s",
    "supervised_specialist_wall_time_s",
)


@pytest.mark.bench
def test_bench_measures_both_sides_on_the_same_work(tmp_path: Path) -> None:
    config = tiny_run_config(tmp_path, name="bench-smoke", specialists=("ascii",))
    out = tmp_path / "results" / "supervision_overhead.json"
    work = tmp_path / "work"
    command = [
        sys.executable, str(REPO_ROOT / "bench" / "supervision_overhead.py"), "--config", str(config),
        "--specialist", "ascii", "--epochs", "1", "--rounds", "1", "--work-dir", str(work), "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    written = json.loads(out.read_text())
    assert json.loads(result.stdout) == written  # stdout is the JSON alone; logs went to stderr
    for key in NUMBERS:
        assert isinstance(written[key], float) and math.isfinite(written[key]) and written[key] > 0, key
    assert written["same_tokens"], written["rounds_detail"]
    (round_,) = written["rounds_detail"]
    supervised = round_["supervised"]
    assert supervised["gradings"] == 1 and supervised["decisions"] >= 1  # one epoch, graded once
    assert supervised["step_events"] == 6  # 48 fixture examples in micro-batches of 8
    assert round_["bare"]["tokens"] == supervised["tokens"] > 0
    assert (work / "bench-bare-0" / "ascii" / "main" / "phase_done.json").is_file()
    assert written["target_ratio"] == 0.98 and isinstance(written["meets_target"], bool)


def test_bench_refuses_an_unknown_specialist(tmp_path: Path) -> None:
    config = tiny_run_config(tmp_path, specialists=("ascii",))
    command = [sys.executable, str(REPO_ROOT / "bench" / "supervision_overhead.py"), "--config", str(config),
               "--specialist", "nobody", "--out", str(tmp_path / "out.json")]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "no specialist 'nobody' in the config; it has: ascii" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_both_sides_train_the_same_epochs(tmp_path: Path) -> None:
    from bench.supervision_overhead import bench_data, named
    from settings.run import load_run_config

    config = load_run_config(tiny_run_config(tmp_path, specialists=("ascii", "runic")))
    chosen = named(bench_data(config, "ascii", epochs=3, foundation_epochs=1, output_dir=tmp_path), "x")
    # A supervisor extends an improving phase by up to max_extra_epochs: that would lengthen one side only.
    assert chosen.policies.max_extra_epochs == 0
    assert [(phase.name, phase.epochs) for phase in chosen.specialists["ascii"].phases] == [("main", 3)]
    assert list(chosen.specialists) == ["ascii"]
