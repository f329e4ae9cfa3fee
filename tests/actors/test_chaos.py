"""The night survives its faults: injected NaN, OOM, hang, crash and full disk, then SIGKILLs of a trainer,
the supervisor and the driver, each on a real local Ray cluster that the run's own driver starts and stops.

Every wait polls the run's files (run_state.json, decisions.jsonl, injected_faults.json) with a generous
bound; no assertion depends on how fast the machine is. Where a process crash must be told apart from a
stall, `stall_seconds` is far above the time Ray takes to restart a process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.actors.clusters import stop_cluster
from tests.actors.run_configs import REPO_ROOT, tiny_run_data, write_run_config

REPO = REPO_ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.chaos]


def chaos_config(
    output_dir: Path, name: str, faults: dict[str, dict[str, Any]], epochs: int = 4, **sections: Any
) -> dict[str, Any]:
    """The tiny two-specialist run of run_configs with `faults` injected into each specialist's only phase
    ("main"); a `sections` entry replaces that whole section. The watchdog grades only at phase ends."""
    config = tiny_run_data(output_dir, name, epochs=epochs)
    for specialist, injected in faults.items():
        config["specialists"][specialist]["faults"] = {"main": injected}
    config.update(
        watchdog={"every_epochs": 100},
        policies={"stall_seconds": 8},
        supervisor={"startup_grace_s": 90},
    )
    config.update(sections)
    return config


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    return write_run_config(tmp_path, config, f"{config['run']['name']}.yaml")


def overnight_command(config_path: Path) -> list[str]:
    """The user's command on a private local cluster: `--address local` never joins another Ray on this
    machine (without it, Ray's `auto` attaches to whichever cluster started last)."""
    return [sys.executable, "overnight.py", "--config", str(config_path), "--quiet", "--address", "local"]


def run_overnight(
    config_path: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        overnight_command(config_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def decisions(run_dir: Path) -> list[dict[str, Any]]:
    from policies.decision_log import read_log

    return [record.model_dump(mode="json") for record in read_log(run_dir / "decisions.jsonl")]


def run_state(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run_state.json").read_text())


def events(run_dir: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events" / f"{name}.jsonl").read_text().splitlines()]


def resumed_starts(run_dir: Path, name: str) -> list[dict[str, Any]]:
    """The phase starts of `name` that resumed from a checkpoint."""
    return [
        e
        for e in events(run_dir, name)
        if e["type"] == "phase" and e["status"] == "started" and e.get("resumed_from")
    ]


def states(run_dir: Path) -> dict[str, str]:
    return {name: spec["state"] for name, spec in run_state(run_dir)["specialists"].items()}


ALL_FINISHED = {"foundation": "finished", "ascii": "finished", "runic": "finished"}


def test_injected_faults_are_recovered_and_logged(tmp_path: Path) -> None:
    """NaN and OOM in ascii; a hang, a crash (an exception out of train()) and a full disk in runic."""
    faults = {
        "ascii": {"nan_at_step": 3, "oom_at_step": 9},
        "runic": {"hang_at_step": 4, "crash_at_step": 12, "disk_full_at_step": 14},
    }
    # The hang is found by 20 s of heartbeat silence; the tiny trainer is never quiet for more than seconds.
    config = chaos_config(tmp_path, "faults", faults, policies={"stall_seconds": 20})
    completed = run_overnight(write_config(tmp_path, config))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    run_dir = tmp_path / "faults"
    assert states(run_dir) == ALL_FINISHED
    log = decisions(run_dir)
    by_trigger = {(record["specialist"], record["trigger"]["kind"]): record for record in log}

    nan = by_trigger[("ascii", "non_finite")]
    assert nan["step"] == 3 and nan["action"] == "rollback"
    # The first NaN keeps the LR.
    assert nan["params_after"]["peak_lr"] == pytest.approx(nan["params_before"]["peak_lr"])
    # The trainer really replayed the steps before the NaN, at the same LR.
    first, replayed = [e["lr"] for e in events(run_dir, "ascii") if e["type"] == "step" and e["step"] == 2]
    assert replayed == pytest.approx(first)

    oom = by_trigger[("ascii", "oom")]
    assert oom["step"] == 9 and oom["action"] == "shrink_batch"
    before, after = oom["params_before"], oom["params_after"]
    assert after["micro_batch"] == before["micro_batch"] // 2
    assert after["micro_batch"] * after["grad_accum"] == before["micro_batch"] * before["grad_accum"]
    # The OOM'd specialist trained on at the smaller micro-batch after resuming.
    assert any(e.get("micro_batch") == 4 and e.get("grad_accum") == 2 for e in events(run_dir, "ascii"))

    stall = by_trigger[("runic", "stall")]
    assert stall["action"] == "restart_trainer" and stall["outcome"]["ok"]
    crash = by_trigger[("runic", "crash")]
    assert crash["action"] == "restart_trainer"
    assert "InjectedCrash" in crash["trigger"]["detail"]
    assert "train() called again" in crash["outcome"]["detail"]
    # Both restarts resumed the phase from a checkpoint.
    assert len(resumed_starts(run_dir, "runic")) >= 2
    disk = by_trigger[("runic", "checkpoint_failed")]
    assert disk["action"] == "continue" and "No space left on device" in disk["trigger"]["detail"]
    assert "previous checkpoint stays intact" in disk["outcome"]["detail"]
    # Every decision was followed by its outcome, and no decision was written twice.
    assert all(record["outcome"] is not None for record in log)
    assert len({record["decision_id"] for record in log}) == len(log)


def test_spent_bounds_abort_one_specialist_and_a_misbehaving_llm_grader_falls_back(tmp_path: Path) -> None:
    """ascii spends its single intervention and is aborted; runic finishes. Meanwhile the LLM grader, with a
    key set, gets nonsense and then errors from the API: every grade falls back to the rubric."""
    from tests.agents.fake_messages_server import FakeMessagesServer, error_reply, text_reply

    faults = {"ascii": {"nan_at_step": 2, "oom_at_step": 6}}
    with FakeMessagesServer() as server:
        server.enqueue(text_reply("the run looks fine to me"), error_reply(500, "api_error", "overloaded"))
        config = chaos_config(
            tmp_path,
            "bounds",
            faults,
            epochs=3,
            policies={"stall_seconds": 60, "max_interventions_per_specialist": 1},
            grader={"llm": {"base_url": server.base_url, "timeout_s": 2, "max_retries": 0}},
        )
        env = {**os.environ, "ANTHROPIC_API_KEY": "test-key-for-the-fake-server"}
        completed = run_overnight(write_config(tmp_path, config), env=env)
        assert server.requests, "the LLM grader never called the (fake) API"
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    state = run_state(tmp_path / "bounds")
    assert state["specialists"]["ascii"]["state"] == "aborted"
    assert "max_interventions_per_specialist 1" in state["specialists"]["ascii"]["reason"]
    assert state["specialists"]["runic"]["state"] == "finished"
    log = decisions(tmp_path / "bounds")
    aborts = [r for r in log if r["action"] == "abort_specialist"]
    assert [r["specialist"] for r in aborts] == ["ascii"]
    grades = [r for r in log if r["trigger"]["kind"] == "grade"]
    assert grades and all(r["grade_source"] == "rubric" for r in grades)
    assert all(r["fallback_reason"] and not r["fallback_reason"].startswith("no API key") for r in grades)


def _crash_decisions(run_dir: Path, name: str = "ascii") -> list[dict[str, Any]]:
    path = run_dir / "decisions.jsonl"
    if not path.exists():
        return []
    return [r for r in decisions(run_dir) if r["specialist"] == name and r["trigger"]["kind"] == "crash"]


def _finished(run_dir: Path, name: str) -> bool:
    return run_state(run_dir)["specialists"][name]["state"] == "finished"


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` (which reads files a live run is writing) until it is truthy; return its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            value = predicate()
            if value:
                return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _step_of(run_dir: Path, name: str) -> int:
    try:
        return int(run_state(run_dir)["specialists"][name]["step"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _fired(run_dir: Path, name: str, token: str) -> bool:
    """Whether injected fault `token` (e.g. "hang@8") has fired in `name`'s main phase."""
    registry = run_dir / name / "main" / "injected_faults.json"
    return registry.is_file() and token in json.loads(registry.read_text())


def hung_trainer_pid(run_dir: Path, name: str, step: int) -> int:
    """Wait for `name`'s injected hang at `step` to fire; the process id of the trainer now hanging there."""

    def pid_once_hung() -> int | None:
        if not _fired(run_dir, name, f"hang@{step}"):
            return None
        return run_state(run_dir)["specialists"][name]["trainer_pid"]

    return _wait_for(pid_once_hung, 300, f"{name} to hang at step {step}")


def _kill_hung_trainer(run_dir: Path) -> int:
    """SIGKILL ascii's trainer process while it hangs at step 8: Ray restarts it and it resumes. Its pid."""
    trainer_pid = hung_trainer_pid(run_dir, "ascii", 8)
    os.kill(trainer_pid, signal.SIGKILL)
    _wait_for(lambda: _crash_decisions(run_dir), 180, "the supervisor to log the trainer's crash")
    return trainer_pid


def _kill_supervisor(run_dir: Path) -> None:
    """SIGKILL the supervisor: Ray restarts it, it reloads the run state and ascii trains on under it."""
    supervisor_pid = run_state(run_dir)["supervisor_pid"]
    os.kill(supervisor_pid, signal.SIGKILL)
    _wait_for(
        lambda: run_state(run_dir)["supervisor_pid"] != supervisor_pid, 180, "Ray to restart the supervisor"
    )
    step_at_restart = _step_of(run_dir, "ascii")
    _wait_for(
        lambda: _step_of(run_dir, "ascii") >= step_at_restart + 12 or _finished(run_dir, "ascii"),
        180,
        "ascii to train on under the restarted supervisor",
    )


def _kill_trainer_supervisor_then_driver(config_path: Path, run_dir: Path, driver_log_path: Path) -> int:
    """Start the night, then SIGKILL ascii's trainer, the supervisor and the driver in turn; the trainer's
    pid. The driver's output goes to a file: an unread pipe would fill up and block it."""
    with driver_log_path.open("w") as driver_log:
        driver = subprocess.Popen(
            overnight_command(config_path), cwd=REPO, stdout=driver_log, stderr=subprocess.STDOUT
        )
        try:
            trainer_pid = _kill_hung_trainer(run_dir)
            _kill_supervisor(run_dir)
            assert driver.poll() is None, "the night ended although runic still hangs"
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=60)
        finally:
            if driver.poll() is None:
                driver.kill()
    return trainer_pid


def _assert_the_rerun_finished_the_night(run_dir: Path, trainer_pid: int, epochs: int) -> None:
    """One crash decision (the killed trainer's), no stall, no decision twice; the foundation not trained
    again, runic resumed, and ascii's phase trained every epoch exactly once."""
    assert states(run_dir) == ALL_FINISHED
    log = decisions(run_dir)
    crashes = _crash_decisions(run_dir)
    assert len(crashes) == 1 and crashes[0]["action"] == "restart_trainer"
    assert str(trainer_pid) in crashes[0]["trigger"]["detail"]
    # No stall was declared: neither hang outlived stall_seconds, and the rerun's new processes are no crash.
    assert not [r for r in log if r["trigger"]["kind"] == "stall"]
    assert len({r["decision_id"] for r in log}) == len(log)
    # The foundation finished before the kills and was not trained again by the rerun.
    foundation_starts = [
        e for e in events(run_dir, "foundation") if e["type"] == "phase" and e["status"] == "started"
    ]
    assert len(foundation_starts) == 1
    # runic, hung when the driver died, resumed from its checkpoint on the rerun.
    assert resumed_starts(run_dir, "runic")
    # No epoch was lost or trained twice: the recipe's record of the phase (kept across every resume) holds
    # exactly one loss per optimizer step that was applied (a step the spike guard skipped has none).
    done = json.loads((run_dir / "ascii" / "main" / "phase_done.json").read_text())
    assert done["epochs_completed"] == epochs
    assert done["steps"] % epochs == 0
    assert len(done["step_losses"]) + done["spike_skipped_steps"] == done["steps"]


def test_sigkill_of_trainer_and_supervisor_then_driver_rerun(tmp_path: Path) -> None:
    """Kill a trainer's process, then the supervisor's, then the driver; rerunning the command finishes it.

    Injected hangs pin the trainers where the test needs them, so no kill races the end of training: ascii
    hangs at step 8 and is SIGKILLed there; runic hangs at step 2 and keeps the night open until the driver is
    killed. stall_seconds (180) is far above a process restart, so the kill is seen as the crash it is and
    runic's hang is never resolved by the first driver; on the rerun, the fired hangs do not fire again.
    """
    epochs = 20
    faults = {"ascii": {"hang_at_step": 8}, "runic": {"hang_at_step": 2}}
    config = chaos_config(tmp_path, "kills", faults, epochs=epochs, policies={"stall_seconds": 180})
    config["specialists"]["runic"]["phases"][0]["epochs"] = 2
    config_path = write_config(tmp_path, config)
    run_dir = tmp_path / "kills"
    trainer_pid = _kill_trainer_supervisor_then_driver(config_path, run_dir, tmp_path / "driver.log")
    # Whatever is left of the killed driver's local cluster goes too (on a laptop it dies with the driver):
    # the same command then resumes the night from the run directory alone.
    stop_cluster((run_dir / "ray_address").read_text().strip())
    rerun = run_overnight(config_path)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    _assert_the_rerun_finished_the_night(run_dir, trainer_pid, epochs)
