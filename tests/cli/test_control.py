"""`overnight ctl` through the control file, against a real in-process supervisor, and `--run` targeting."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.supervisor import Supervisor
from control.control_file import HEARTBEAT_FILE, control_dir
from overnight import main
from policies.decision_log import read_log
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import merged, tiny_run_data


class QuietWorkers:
    """The supervisor's Workers with no trainers behind them: they record what the supervisor asks, and the
    test plays the trainers' part (reporting their end) where it needs to."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self.killed: list[str] = []

    def start(self, specialist: str, job: dict[str, Any] | None = None) -> None:
        self.started.append(specialist)

    def exists(self, specialist: str) -> bool:
        return specialist in self.started

    def send(self, specialist: str, command: dict[str, Any]) -> None:
        self.sent.append((specialist, command["name"]))

    def restart(self, specialist: str) -> None:
        raise AssertionError(f"nothing here restarts a trainer ({specialist})")

    def kill(self, specialist: str) -> None:
        self.killed.append(specialist)

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"nothing here grades ({specialist})")

    def lost(self) -> list[tuple[str, str]]:
        return []

    def promoted(self, specialist: str) -> None:
        return None


Capture = pytest.CaptureFixture[str]


def state_of(supervisor: Supervisor, name: str) -> str:
    return str(supervisor.status()["specialists"][name]["state"])


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Supervisor, QuietWorkers, Path]]:
    """A started supervisor of run `night` (foundation, then ascii and runic) with its control watcher up."""
    data = merged(tiny_run_data(tmp_path, "night"), {"supervisor": {"poll_interval_s": 0.05}})
    config = config_from_dict(data, RunConfig)
    workers = QuietWorkers()
    supervisor = Supervisor(config, str(config.run_dir()), "in-process", workers)
    supervisor.start()
    wait_until(lambda: (config.run_dir() / HEARTBEAT_FILE).is_file(), "the first heartbeat")
    yield supervisor, workers, tmp_path
    supervisor.shutdown()


def ctl(output_dir: Path, *argv: str) -> int:
    return main(["ctl", *argv, "--output-dir", str(output_dir), "--wait", "10"])


def test_ctl_pauses_and_resumes_through_the_control_file(live: Any, capsys: Capture) -> None:
    supervisor, workers, output_dir = live
    wait_until(lambda: state_of(supervisor, "foundation") == "running", "the foundation")
    assert ctl(output_dir, "pause", "foundation", "--run", "night") == 0
    paused = capsys.readouterr().out
    assert state_of(supervisor, "foundation") == "paused"
    assert ("foundation", "pause") in workers.sent
    assert ctl(output_dir, "resume", "foundation") == 0  # the only live run: --run may be left out
    resumed = capsys.readouterr().out
    assert state_of(supervisor, "foundation") == "running"

    records = [r for r in read_log(supervisor.log_path) if r.trigger.kind == "control"]
    assert [r.action.value for r in records] == ["pause", "resume"]
    assert f"pause foundation: {records[0].reason} (decision {records[0].decision_id})\n" in paused
    assert f"resume foundation: {records[1].reason} (decision {records[1].decision_id})\n" in resumed
    assert records[0].reason.startswith("user asked to pause foundation: a checkpoint is saved")
    assert "continue" not in records[0].reason + records[1].reason
    assert list(control_dir(supervisor.run_dir).glob("*.json")) == []  # every request was taken


def test_ctl_refusals_are_answered_and_log_nothing(live: Any, capsys: Capture) -> None:
    supervisor, _, output_dir = live
    assert ctl(output_dir, "pause", "nobody", "--run", "night") == 2
    known = "foundation, ascii, runic"
    assert f"error: no specialist 'nobody' in run 'night'; known: {known}" in capsys.readouterr().err
    assert ctl(output_dir, "pause", "--run", "night") == 2
    assert "error: `overnight ctl pause` needs a SPECIALIST" in capsys.readouterr().err
    supervisor.state.specialists["runic"].state = "finished"
    assert ctl(output_dir, "stop", "runic", "--run", "night") == 2
    assert "error: stop runic: runic is already finished; nothing to stop" in capsys.readouterr().err
    assert read_log(supervisor.log_path) == []


def test_stop_run_ends_a_watching_run(live: Any, capsys: Capture) -> None:
    supervisor, workers, output_dir = live
    supervisor.start(watch=True)
    wait_until(lambda: state_of(supervisor, "foundation") == "running", "the foundation")
    assert ctl(output_dir, "stop-run", "--run", "night") == 0
    out = capsys.readouterr().out
    said = "stop-run run night: user asked to stop run night: stop foundation, ascii, runic and stop watching"
    assert said in out
    assert ("foundation", "stop") in workers.sent
    # The foundation's trainer reports its end, as a real one does after its stop command.
    supervisor.trainer_done("foundation", {"ok": True, "result": {"status": "stopped"}})
    wait_until(lambda: supervisor.status()["status"] == "finished", "the run to finish")
    state = supervisor.status()
    assert not state["watch"]
    assert {name: spec["state"] for name, spec in state["specialists"].items()} == {
        "foundation": "stopped", "ascii": "stopped", "runic": "stopped",
    }  # fmt: skip
    actions = [(r.specialist, r.action.value) for r in read_log(supervisor.log_path)]
    assert actions == [("run", "stop_run"), ("foundation", "abort_specialist"), ("ascii", "abort_specialist"),
                       ("runic", "abort_specialist")]  # fmt: skip
    assert ctl(output_dir, "stop-run", "--run", "night") == 2
    assert "run night is finished; controls act on a running night" in capsys.readouterr().err


def write_run(output_dir: Path, name: str, status: str, updated_at: float, heartbeat: float | None) -> Path:
    run_dir = output_dir / name
    run_dir.mkdir(parents=True)
    state = {"run": name, "config_path": "c.yaml", "status": status, "updated_at": updated_at,
             "specialists": {"ascii": {"state": "running"}}}  # fmt: skip
    (run_dir / "run_state.json").write_text(json.dumps(state))
    if heartbeat is not None:
        (run_dir / HEARTBEAT_FILE).write_text(json.dumps({"run": name, "pid": 1, "time": heartbeat}))
    return run_dir


def test_ctl_never_guesses_between_two_live_runs(tmp_path: Path, capsys: Capture) -> None:
    now = time.time()
    write_run(tmp_path, "a", "running", now - 3600, heartbeat=now)
    write_run(tmp_path, "b", "running", now, heartbeat=None)
    write_run(tmp_path, "gone", "running", now - 3600, heartbeat=now - 3600)
    assert ctl(tmp_path, "pause", "ascii") == 2
    assert "error: 2 runs are live (b, a); name one with --run" in capsys.readouterr().err
    assert ctl(tmp_path, "pause", "ascii", "--run", "gone") == 2
    assert re.search(r"error: run gone: stale: supervisor not seen for 360\d s", capsys.readouterr().err)
    for name in ("a", "b", "gone"):
        assert not control_dir(tmp_path / name).exists(), "a refused control left a request behind"


def test_ctl_without_an_answer_says_the_request_waits(tmp_path: Path, capsys: Capture) -> None:
    run_dir = write_run(tmp_path, "quiet", "running", time.time(), heartbeat=None)
    assert main(["ctl", "stop", "ascii", "--output-dir", str(tmp_path), "--wait", "0.2"]) == 1
    err = capsys.readouterr().err
    (waiting,) = control_dir(run_dir).glob("*.json")
    assert f"ctl: the supervisor has not answered within 0.2 s; the request waits in {waiting}" in err
