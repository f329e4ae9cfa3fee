"""`overnight status` and `log` from disk: no Ray, plain lines in a pipe, and a stale run said to be stale."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from control.control_file import HEARTBEAT_FILE, STALE_AFTER_S
from overnight import main
from report.status_text import plain_table, status_text
from tests.actors.fixtures_run import write_fake_run

REPO_ROOT = Path(__file__).resolve().parents[2]
Capture = pytest.CaptureFixture[str]


def set_state(run_dir: Path, **fields: object) -> None:
    path = run_dir / "run_state.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, **fields}))


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process with stdout a pipe, as `overnight status | less` runs it."""
    script = "import sys; from overnight import main; code = main(sys.argv[1:]); " \
             "print('RAY_IMPORTED' if 'ray' in sys.modules else 'NO_RAY', file=sys.stderr); sys.exit(code)"
    env = {**os.environ, "COLUMNS": "80"}
    command = [sys.executable, "-c", script, *argv]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("command", ["status", "log"])
def test_status_and_log_answer_from_disk_without_importing_ray(tmp_path: Path, command: str) -> None:
    fake = write_fake_run(tmp_path)
    done = run_cli(command, "--output-dir", str(tmp_path), "--run", fake.run)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "NO_RAY"


def test_status_in_a_pipe_is_one_line_per_specialist_with_a_step_column(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path, pending=("late",))
    done = run_cli("status", "--output-dir", str(tmp_path))
    lines = done.stdout.splitlines()
    assert lines[0] == f"run {fake.run}: finished"
    header, *rows = lines[1:]
    assert header.split() == ["specialist", "phase", "epoch", "step", "loss", "last", "grade", "LR",
                              "micro-batch", "×", "accum", "state", "ETA"]  # fmt: skip
    assert [row.split()[0] for row in rows] == ["ascii", "runic", "late"]
    ascii_cells = rows[0].split()
    assert ascii_cells[1:5] == ["phase2_specialist", "(2/2)", "6/6", "200"]
    assert any(len(line) > 80 for line in lines), "rows wider than 80 columns, and none was folded"
    # Columns line up: each header word starts where its cells start.
    assert rows[0].index("200") == header.index("step")


def test_plain_table_pads_columns_and_keeps_a_multiline_cell_on_its_row() -> None:
    assert plain_table(["a", "bee"], [["long cell", "x"], ["y\nz", "w"]]) == (
        "a          bee\nlong cell  x\ny z        w\n"
    )
    assert status_text({"run": "r", "status": "running", "specialists": {}}) == "no specialists yet\n"


def test_status_says_when_a_running_run_has_lost_its_supervisor(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    long_ago = time.time() - 3600
    set_state(fake.run_dir, status="running", updated_at=long_ago)
    (fake.run_dir / HEARTBEAT_FILE).write_text(json.dumps({"run": fake.run, "pid": 1, "time": long_ago}))
    done = run_cli("status", "--output-dir", str(tmp_path))
    stale = r"stale: supervisor not seen for 360\d s"
    header = done.stdout.splitlines()[0]
    assert re.fullmatch(rf"run {fake.run}: running \({stale}: its actors are gone; rerun .*\)", header)
    as_json = json.loads(run_cli("status", "--output-dir", str(tmp_path), "--json").stdout)
    assert re.fullmatch(stale, as_json["stale"])


def test_a_fresh_heartbeat_keeps_a_quiet_run_live(tmp_path: Path, capsys: Capture) -> None:
    # A paused or watching run writes no state for hours; the watcher's heartbeat says it is alive.
    fake = write_fake_run(tmp_path)
    set_state(fake.run_dir, status="running", updated_at=time.time() - 3600)
    beat = time.time() - STALE_AFTER_S / 2
    (fake.run_dir / HEARTBEAT_FILE).write_text(json.dumps({"run": fake.run, "pid": 1, "time": beat}))
    assert main(["status", "--output-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"run {fake.run}: running"


def test_status_of_a_missing_run_names_the_ones_there(tmp_path: Path, capsys: Capture) -> None:
    write_fake_run(tmp_path)
    assert main(["status", "--output-dir", str(tmp_path), "--run", "nope"]) == 2
    assert f"error: no run 'nope' in {tmp_path}; available runs: night-01" in capsys.readouterr().err
