"""`overnight ctl` and `status` against a real night: a driver on a private local Ray cluster, steered from
other processes through the run directory only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from policies.decision_log import read_log
from tests.actors.run_configs import REPO_ROOT, merged, tiny_run_data, write_run_config

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.extra]
RUN = "steered"
TIMEOUT_S = 300.0


def overnight(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "overnight.py"), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def state(run_dir: Path) -> dict:
    return json.loads((run_dir / "run_state.json").read_text())


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT_S:.0f}s waiting for {what}")
        time.sleep(0.2)


def test_a_live_night_is_paused_and_stopped_from_another_process(tmp_path: Path) -> None:
    data = merged(tiny_run_data(tmp_path, RUN, specialists=("ascii",), epochs=500),
                  {"watchdog": {"every_epochs": 1000}, "resources": {"trainer_num_cpus": 0.5}})  # fmt: skip
    config = write_run_config(tmp_path, data)
    run_dir = tmp_path / RUN
    where = ["--run", RUN, "--output-dir", str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    command = [sys.executable, str(REPO_ROOT / "overnight.py"), "--config", str(config), "--quiet",
               "--address", "local"]  # fmt: skip
    driver = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_for(lambda: (run_dir / "run_state.json").is_file()
                 and state(run_dir)["specialists"]["ascii"]["step"] >= 2, "ascii to train")  # fmt: skip
        paused = overnight("ctl", "pause", "ascii", *where)
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.startswith("pause ascii: user asked to pause ascii: a checkpoint is saved")
        assert state(run_dir)["specialists"]["ascii"]["state"] == "paused"
        status = overnight("status", *where)
        assert status.stdout.splitlines()[0] == f"run {RUN}: running", status.stdout
        ascii_row = next(line for line in status.stdout.splitlines() if line.startswith("ascii "))
        assert "paused" in ascii_row

        stopped = overnight("ctl", "stop-run", *where)
        assert stopped.returncode == 0, stopped.stderr
        output, _ = driver.communicate(timeout=TIMEOUT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert "run: finished" in output, output[-3000:]
    assert overnight("status", *where).stdout.splitlines()[0] == f"run {RUN}: finished"
    controls = [(r.specialist, r.action.value) for r in read_log(run_dir / "decisions.jsonl")
                if r.trigger.kind == "control"]  # fmt: skip
    assert controls == [("ascii", "pause"), ("run", "stop_run"), ("ascii", "abort_specialist")]
    assert state(run_dir)["specialists"]["ascii"]["state"] == "stopped"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["config_path"] == str((run_dir / "config.yaml").resolve())
    assert state(run_dir)["config_path"] == str(run_dir / "config.yaml")
