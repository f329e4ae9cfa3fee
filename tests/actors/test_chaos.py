"""The night survives its faults: injected NaN, OOM, hang and crash, then SIGKILLs, on a real local Ray."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "training" / "fixtures"

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.chaos]


def chaos_config(
    output_dir: Path, name: str, faults: dict[str, dict[str, Any]], epochs: int = 4, **sections: Any
) -> dict[str, Any]:
    """A tiny two-specialist run that grades only at phase ends, so a tiny model's grades steer nothing."""
    tiny = {
        "vocab_size": 320,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_layers": 2,
        "num_heads": 2,
        "num_kv_heads": 1,
        "head_dim": 16,
        "max_position_embeddings": 256,
        "tokenizer_corpora": ["tiny_corpus"],
    }
    config: dict[str, Any] = {
        "run": {"name": name, "output_dir": str(output_dir), "corpora_dir": str(FIXTURES)},
        "model": {"method": "lora", "lora": {"rank": 4, "alpha": 8}, "tiny": tiny},
        "training": {
            "learning_rate": 0.003,
            "micro_batch_size": 8,
            "max_length": 128,
            "eval_subset": 4,
            "eval_batch_size": 4,
            "max_new_tokens": 12,
            "heartbeat_interval_s": 0.2,
        },
        "foundation": {"corpus": "tiny_corpus", "epochs": 1},
        "specialists": {
            name: {
                "corpus": "tiny_corpus",
                "track": name,
                "phases": [{"name": "main", "epochs": epochs}],
                **({"faults": {"main": faults[name]}} if name in faults else {}),
            }
            for name in ("ascii", "runic")
        },
        "watchdog": {"every_epochs": 100},
        "policies": {"stall_seconds": 8},
        "supervisor": {"startup_grace_s": 90},
        "resources": {"trainer_num_cpus": 0.5},
    }
    config.update(sections)
    return config


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / f"{config['run']['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_overnight(config_path: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The user's command; `--address local` keeps it off any other Ray cluster on this machine."""
    extra = extra or ("--address", "local")
    return subprocess.run(
        [sys.executable, "overnight.py", "--config", str(config_path), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def decisions(run_dir: Path) -> list[dict[str, Any]]:
    from policies.decision_log import read_log

    return [record.model_dump(mode="json") for record in read_log(run_dir / "decisions.jsonl")]


def run_state(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run_state.json").read_text())


def test_injected_faults_are_recovered_and_logged(tmp_path: Path) -> None:
    faults = {
        "ascii": {"nan_at_step": 3, "oom_at_step": 9},
        "runic": {"hang_at_step": 4, "crash_at_step": 12, "crash_mode": "exit", "disk_full_at_step": 14},
    }
    # stall_seconds above the time Ray needs to restart a crashed trainer, so the crash is seen as one.
    config = chaos_config(tmp_path, "faults", faults, policies={"stall_seconds": 25})
    completed = run_overnight(write_config(tmp_path, config))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    run_dir = tmp_path / "faults"
    state = run_state(run_dir)
    assert {name: spec["state"] for name, spec in state["specialists"].items()} == {
        "foundation": "finished",
        "ascii": "finished",
        "runic": "finished",
    }
    log = decisions(run_dir)
    by_trigger = {(record["specialist"], record["trigger"]["kind"]): record for record in log}

    nan = by_trigger[("ascii", "non_finite")]
    assert nan["step"] == 3 and nan["action"] == "rollback"
    assert nan["params_after"]["lr"] == pytest.approx(nan["params_before"]["lr"] / 2)

    oom = by_trigger[("ascii", "oom")]
    assert oom["action"] == "shrink_batch"
    before, after = oom["params_before"], oom["params_after"]
    assert after["micro_batch"] == before["micro_batch"] // 2
    assert after["micro_batch"] * after["grad_accum"] == before["micro_batch"] * before["grad_accum"]

    stall = by_trigger[("runic", "stall")]
    assert stall["action"] == "restart_trainer"
    disk = by_trigger[("runic", "checkpoint_failed")]
    assert disk["action"] == "continue" and "No space left on device" in disk["trigger"]["detail"]
    assert "previous checkpoint stays intact" in disk["outcome"]["detail"]
    crash = by_trigger[("runic", "crash")]
    assert crash["action"] == "restart_trainer"
    assert "Ray restarted it as process" in crash["trigger"]["detail"]
    # Every decision was followed by its outcome, and no decision was written twice.
    assert all(record["outcome"] is not None for record in log)
    assert len({record["decision_id"] for record in log}) == len(log)
    # The OOM'd specialist really trained on at the smaller micro-batch after resuming.
    steps = [json.loads(line) for line in (run_dir / "events" / "ascii.jsonl").read_text().splitlines()]
    assert steps[-2]["type"] in ("step", "epoch", "phase", "grade")
    assert any(event.get("micro_batch") == 4 and event.get("grad_accum") == 2 for event in steps)


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
        completed = subprocess.run(
            [
                sys.executable,
                "overnight.py",
                "--config",
                str(write_config(tmp_path, config)),
                "--quiet",
                "--address",
                "local",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
            env=env,
        )
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


def stop_cluster(address: str) -> None:
    """Stop the cluster the killed driver left behind, and only that one (others may be running tests)."""
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        if any(address in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


def _crash_decisions(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "decisions.jsonl"
    if not path.exists():
        return []
    return [r for r in decisions(run_dir) if r["specialist"] == "ascii" and r["trigger"]["kind"] == "crash"]


def _finished(run_dir: Path, name: str) -> bool:
    return run_state(run_dir)["specialists"][name]["state"] == "finished"


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _step_of(run_dir: Path, name: str) -> int:
    try:
        return int(run_state(run_dir)["specialists"][name]["step"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_sigkill_of_trainer_and_supervisor_then_driver_rerun(tmp_path: Path) -> None:
    """Kill a trainer's process, then the supervisor's, then the driver; rerunning the command finishes it."""

    config = chaos_config(tmp_path, "kills", {}, epochs=60, policies={"stall_seconds": 30})
    config["specialists"]["runic"]["phases"][0]["epochs"] = 2  # only ascii needs to train long enough to kill
    config_path = write_config(tmp_path, config)
    run_dir = tmp_path / "kills"
    driver_log = (tmp_path / "driver.log").open("w")
    # The driver's output goes to a file: an unread pipe would fill up and block it.
    driver = subprocess.Popen(
        [sys.executable, "overnight.py", "--config", str(config_path), "--quiet", "--address", "local"],
        cwd=REPO,
        stdout=driver_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: _step_of(run_dir, "ascii") >= 6, 240, "ascii to train a few steps")
        os.kill(run_state(run_dir)["specialists"]["ascii"]["trainer_pid"], signal.SIGKILL)
        _wait_for(lambda: _crash_decisions(run_dir), 120, "the supervisor to log the trainer's crash")
        os.kill(run_state(run_dir)["supervisor_pid"], signal.SIGKILL)
        step_at_kill = _step_of(run_dir, "ascii")
        _wait_for(
            lambda: _step_of(run_dir, "ascii") >= step_at_kill + 12 or _finished(run_dir, "ascii"),
            240,
            "training to go on after the kills",
        )
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    # Whatever is left of the killed driver's local cluster goes too (on a laptop it dies with the driver):
    # the same command then resumes the night from the run directory alone.
    stop_cluster((run_dir / "ray_address").read_text().strip())
    rerun = run_overnight(config_path)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    state = run_state(run_dir)
    assert {n: s["state"] for n, s in state["specialists"].items()} == {
        "foundation": "finished",
        "ascii": "finished",
        "runic": "finished",
    }
    log = decisions(run_dir)
    crashes = _crash_decisions(run_dir)
    assert len(crashes) == 1 and crashes[0]["action"] == "restart_trainer"
    assert len({r["decision_id"] for r in log}) == len(log)
    # The foundation finished before the kills and was not trained again by the rerun.
    foundation_phase_starts = [
        e
        for e in map(json.loads, (run_dir / "events" / "foundation.jsonl").read_text().splitlines())
        if e["type"] == "phase" and e["status"] == "started"
    ]
    assert len(foundation_phase_starts) == 1
    # No epoch was lost or trained twice: the recipe's record of the phase (kept across every resume) holds
    # exactly one loss per optimizer step of 60 epochs.
    done = json.loads((run_dir / "ascii" / "main" / "phase_done.json").read_text())
    steps_per_epoch = done["steps"] // 60
    assert done["epochs_completed"] == 60
    assert len(done["step_losses"]) == done["steps"] == 60 * steps_per_epoch
