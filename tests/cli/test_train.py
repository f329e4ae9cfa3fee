"""`overnight train` and `overnight export` through their argparse registration."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from cli import train as cli
from tests.training.conftest import tiny_config_dict


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="overnight")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_train_prints_checkpoints_and_metrics_then_export(
    shared_output: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(shared_output, "cli")), encoding="utf-8")
    assert (
        run(["train", "--config", str(config), "--specialist", "ascii", "--no-resume", "--progress", "off"])
        == 0
    )
    out = capsys.readouterr().out
    assert "specialist ascii: completed" in out
    assert f"checkpoints: {shared_output / 'cli' / 'ascii' / 'main' / 'checkpoints'}" in out
    assert "last eval: val loss" in out and "convert" in out
    final = next(line.split("final: ")[1] for line in out.splitlines() if "final: " in line)
    assert run(["export", "--checkpoint", final, "--out", str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "config.json").is_file()
    assert run(["export", "--checkpoint", final, "--out", str(tmp_path / "exported")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_train_with_a_bad_config_exits_2_and_lists_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("training:\n  learning_rte: 1\n", encoding="utf-8")
    assert run(["train", "--config", str(config), "--specialist", "ascii"]) == 2
    assert "did you mean 'learning_rate'?" in capsys.readouterr().err


def test_help_describes_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--config", "--specialist", "--no-resume", "--progress", "--json", "examples:"):
        assert flag in text
