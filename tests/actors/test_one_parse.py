"""The driver validates the config once and the supervisor, trainers and watchdogs get that tree as it is.

They used to get `config.model_dump()` and validate it again. A full dump restates defaults as if they were
set, and for a local base model (every Qwen3 night, configs/helix-moe.yaml) the default `model.tiny` then
reads as set: the supervisor refused the config ("model.tiny: only applies to base_model 'builtin:tiny'")
and the night never started."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from actors.supervisor import Supervisor
from actors.trainer import Trainer
from actors.watchdog import Watchdog
from cli.run import prepare_config
from tests.actors.test_supervisor_log_first import LogCheckingWorkers

REPO_ROOT = Path(__file__).resolve().parents[2]


class NoLink:
    """A supervisor link nobody calls: the trainer is only built here."""

    def report(self, specialist: str, event: dict[str, Any]) -> None:
        raise AssertionError("nothing is reported in this test")


def local_base_config(tmp_path: Path) -> Path:
    """configs/helix-moe.yaml on a local model directory (a config.json is all the check needs), with LoRA
    in place of QLoRA so it validates without CUDA."""
    model_dir = tmp_path / "qwen3"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"model_type": "qwen3"}', encoding="utf-8")
    raw = yaml.safe_load((REPO_ROOT / "configs" / "helix-moe.yaml").read_text(encoding="utf-8"))
    raw["model"].update(base_model=str(model_dir), method="lora")
    path = tmp_path / "qwen3-night.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_a_local_base_models_night_reaches_its_supervisor_trainers_and_watchdogs(tmp_path: Path) -> None:
    path = local_base_config(tmp_path)
    args = argparse.Namespace(config=str(path), run_name="qwen3-night", output_dir=str(tmp_path / "out"))
    config = prepare_config(args)
    assert config.run.output_dir == (tmp_path / "out").resolve() and config.run.name == "qwen3-night"
    workers = LogCheckingWorkers(config.run_dir() / "decisions.jsonl")
    supervisor = Supervisor(config, str(config.run_dir()), str(path), workers)
    assert supervisor.config is config
    assert set(supervisor.state.specialists) == {"ascii", "runic"}
    assert Trainer(config, "ascii", NoLink()).config is config
    assert Watchdog("ascii", config.grader).grader.config is config.grader.llm
