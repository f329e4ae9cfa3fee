"""`overnight run` end to end: the real driver on a local Ray with a tiny config, judged from its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from control.run_state import RunState
from policies.decision_log import read_log
from tests.actors.run_configs import REPO_ROOT, merged, tiny_run_config, tiny_run_data, write_run_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RUN_TIMEOUT_S = 240
CLI_TIMEOUT_S = 120
SPECIALISTS = ("ascii", "runic")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def overnight(*args: str, timeout_s: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, from the repository root."""
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "overnight.py"), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def run_command(config: Path) -> list[str]:
    # `--address local` starts a private cluster: another Ray on this machine (or its supervisor) is not
    # ours to attach to. Everything else is the documented command.
    return ["--config", str(config), "--quiet", "--address", "local"]


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-4000:]}\n"
        f"--- stderr ---\n{result.stderr[-4000:]}"
    )


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class FinishedRun:
    """One full night of the tiny config, shared by the module's tests."""

    config: Path
    output_dir: Path
    run_dir: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    tmp = tmp_path_factory.mktemp("e2e")
    name = f"e2e-{os.getpid()}"
    config = tiny_run_config(tmp, name=name, specialists=SPECIALISTS)
    result = overnight(*run_command(config), timeout_s=RUN_TIMEOUT_S)
    return FinishedRun(config=config, output_dir=tmp / "out", run_dir=tmp / "out" / name, result=result)


def test_the_driver_exits_zero_and_every_specialist_finishes(night: FinishedRun) -> None:
    assert night.result.returncode == 0, explain(night.result)
    state = RunState.model_validate_json((night.run_dir / "run_state.json").read_text())
    assert state.status == "finished" and state.finished_at is not None
    assert {name: spec.state for name, spec in state.specialists.items()} == {
        "foundation": "finished",
        **{name: "finished" for name in SPECIALISTS},
    }
    for name in SPECIALISTS:
        assert state.specialists[name].finished_phases == ["main"]
    assert f"run: {state.run} -> {night.run_dir}" in night.result.stdout
    assert (night.run_dir / "config.yaml").read_text() == night.config.read_text()


def test_every_grade_has_a_decision_and_every_decision_an_outcome(night: FinishedRun) -> None:
    lines = jsonl(night.run_dir / "decisions.jsonl")
    decided = [line["decision_id"] for line in lines if line["kind"] == "decision"]
    for decision_id in decided:
        kinds = [line["kind"] for line in lines if line["decision_id"] == decision_id]
        assert kinds == ["decision", "outcome"], (decision_id, kinds)
    records = read_log(night.run_dir / "decisions.jsonl")
    for name in ("foundation", *SPECIALISTS):
        grades = [e for e in jsonl(night.run_dir / "events" / f"{name}.jsonl") if e["type"] == "grade"]
        assert grades, f"{name} was never graded"
        graded = [r for r in records if r.specialist == name and r.trigger.kind == "grade"]
        assert sorted((r.phase, r.epoch, r.grade.score if r.grade else None) for r in graded) == sorted(
            (g["phase"], g["epoch"], g["score"]) for g in grades
        )
        assert all(g["source"] == "rubric" and g["fallback_reason"] for g in grades)  # no key in tests
    for name in SPECIALISTS:
        epochs = {
            e["epoch"] for e in jsonl(night.run_dir / "events" / f"{name}.jsonl") if e["type"] == "grade"
        }
        assert epochs == {0, 1}  # watchdog every epoch (the default), and after the phase's last one


def test_promoted_adapters_load_on_the_coordinator(night: FinishedRun) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    promoted = json.loads((night.run_dir / "promoted.json").read_text())
    assert sorted(promoted["specialists"]) == sorted(SPECIALISTS)
    assert promoted["coordinator"]["kind"] == "base"
    tokens = torch.tensor([[5, 17, 42, 99, 7]])
    for name in SPECIALISTS:
        entry = promoted["specialists"][name]
        assert entry["phase"] == "main" and entry["track"] == name and entry["method"] == "lora"
        assert Path(entry["path"]).is_relative_to(night.run_dir / name / "main" / "checkpoints")
        base = AutoModelForCausalLM.from_pretrained(promoted["coordinator"]["path"]).eval()
        with torch.no_grad():
            base_logits = base(tokens).logits
            expert = PeftModel.from_pretrained(base, entry["path"]).eval()
            expert_logits = expert(tokens).logits
        assert torch.isfinite(expert_logits).all()
        assert not torch.allclose(base_logits, expert_logits), f"{name}'s adapter changes nothing"


def test_the_morning_report_is_written(night: FinishedRun) -> None:
    for name in ("report.md", "summary.json", "grades.png", *(f"loss_{s}.png" for s in SPECIALISTS)):
        assert (night.run_dir / name).is_file(), f"{name} missing"
    for png in night.run_dir.glob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC), png
    summary = json.loads((night.run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    promoted = json.loads((night.run_dir / "promoted.json").read_text())
    for name in SPECIALISTS:
        assert summary["specialists"][name]["adapter"]["path"] == promoted["specialists"][name]["path"]
    report = (night.run_dir / "report.md").read_text()
    assert all(name in report for name in SPECIALISTS)


def json_output(result: subprocess.CompletedProcess[str], lines: bool = False) -> Any:
    """What a `--json` command printed, failing with its whole output when that is not JSON."""
    assert result.returncode == 0, explain(result)
    try:
        if lines:
            return [json.loads(line) for line in result.stdout.splitlines() if line]
        return json.loads(result.stdout)
    except json.JSONDecodeError as err:
        pytest.fail(f"--json printed something that is not JSON ({err}):\n{explain(result)}")


def test_status_and_log_read_the_finished_run(night: FinishedRun) -> None:
    where = ["--output-dir", str(night.output_dir), "--run", night.run_dir.name]
    status = overnight("status", *where, "--json")
    on_disk = json.loads((night.run_dir / "run_state.json").read_text())
    # From disk, with the supervisor's liveness beside the state (a finished run is never stale).
    assert json_output(status) == {**on_disk, "stale": None}, explain(status)
    log = overnight("log", *where, "--json")
    shown = json_output(log, lines=True)
    logged = read_log(night.run_dir / "decisions.jsonl")
    assert [line["decision_id"] for line in shown] == [r.decision_id for r in logged]
    assert all(line["outcome"] is not None for line in shown)
    one = overnight("log", *where, "--json", "--specialist", "ascii")
    assert {line["specialist"] for line in json_output(one, lines=True)} == {"ascii"}


def test_log_json_is_strict_json_lines(night: FinishedRun) -> None:
    log = overnight("log", "--output-dir", str(night.output_dir), "--run", night.run_dir.name, "--json")
    assert log.returncode == 0, explain(log)
    lines = log.stdout.split("\n")
    assert lines[-1] == "" and all(lines[:-1]), "every line must be one JSON object"


def test_rerunning_a_finished_night_trains_nothing(night: FinishedRun) -> None:
    assert night.result.returncode == 0, explain(night.result)
    events = {path.name: path.read_bytes() for path in (night.run_dir / "events").iterdir()}
    decisions = (night.run_dir / "decisions.jsonl").read_bytes()
    done = {
        name: (night.run_dir / name / "main" / "phase_done.json").stat().st_mtime_ns for name in SPECIALISTS
    }
    again = overnight(*run_command(night.config), timeout_s=RUN_TIMEOUT_S)
    assert again.returncode == 0, explain(again)
    assert {path.name: path.read_bytes() for path in (night.run_dir / "events").iterdir()} == events
    assert (night.run_dir / "decisions.jsonl").read_bytes() == decisions
    for name in SPECIALISTS:
        assert (night.run_dir / name / "main" / "phase_done.json").stat().st_mtime_ns == done[name]
        assert f"{name}" in again.stdout and "finished" in again.stdout


def test_bad_input_lists_every_problem_and_trains_nothing(tmp_path: Path) -> None:
    data = merged(
        tiny_run_data(tmp_path / "out", "bad"),
        {"training": {"learning_rte": 1e-3}, "model": {"lora": {"rnak": 4}}},
    )
    config = write_run_config(tmp_path, data)
    result = overnight(*run_command(config))
    assert result.returncode == 2, explain(result)
    assert (
        "training.learning_rte: unknown key 'learning_rte' in training — did you mean 'learning_rate'?"
        in (result.stderr)
    )
    assert "model.lora.rnak: unknown key 'rnak'" in result.stderr
    assert "2 config problems" in result.stderr
    assert not (tmp_path / "out").exists(), "a run directory was written for a config that cannot run"


def test_a_missing_corpus_stops_the_run_before_any_training(tmp_path: Path) -> None:
    data = merged(
        tiny_run_data(tmp_path / "out", "nocorpus"),
        {"specialists": {"runic": {"corpus": "no_such_corpus"}}},
    )
    result = overnight(*run_command(write_run_config(tmp_path, data)))
    assert result.returncode == 2, explain(result)
    assert "the run cannot start; nothing was trained" in result.stderr
    assert "specialists.runic.phases[0].corpus: corpus 'no_such_corpus' has no" in result.stderr
    for split in ("train", "val"):
        assert str(Path(data["run"]["corpora_dir"]) / "no_such_corpus" / f"{split}.jsonl") in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_key_and_missing_corpus_are_reported_together(tmp_path: Path) -> None:
    data = merged(
        tiny_run_data(tmp_path / "out", "both"),
        {"training": {"learning_rte": 1e-3}, "specialists": {"runic": {"corpus": "no_such_corpus"}}},
    )
    result = overnight(*run_command(write_run_config(tmp_path, data)))
    assert result.returncode == 2, explain(result)
    assert "unknown key 'learning_rte'" in result.stderr
    assert "corpus 'no_such_corpus' has no" in result.stderr
    assert not (tmp_path / "out").exists()
