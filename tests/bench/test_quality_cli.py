"""The quality bench's command line: what --help says, bad options, and the base arm graded end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench import quality
from bench.quality_arms import SPLITS
from hlx.corpus_io import read_corpus, write_corpus
from settings.model import TinyModelSection
from training.tiny_model import ensure_tiny_base

REPO = Path(__file__).resolve().parents[2]
VAL_ROWS = 4


def test_help_says_what_it_measures(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for said in ("WHOLE val splits", "exact match and format validity", "per task family",
                 "CPU-seconds of its whole process tree", "base the demo config's base",
                 ">= 80% overall and >= 95% on convert and parse", "value-format validity >= 99%",
                 "coordinator >= 70% on general", "--skip-nights"):  # fmt: skip
        assert said in text, said


def test_skip_nights_needs_the_directory_the_nights_are_in(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--skip-nights", "--arms", "specialist"])
    assert exit_info.value.code == 2
    assert "--skip-nights needs --output-dir" in capsys.readouterr().err


def test_an_unknown_arm_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        quality.main(["--arms", "base,best"])
    assert "--arms: unknown arm(s) best" in capsys.readouterr().err


def _config(tmp_path: Path, base_model: str) -> Path:
    """A run config over the first VAL_ROWS examples of each shipped val split."""
    corpora = tmp_path / "corpora"
    for corpus in SPLITS.values():
        shipped = REPO / "corpora" / corpus
        write_corpus(corpora / corpus / "val.jsonl", read_corpus(shipped / "val.jsonl")[:VAL_ROWS])
        write_corpus(corpora / corpus / "train.jsonl", read_corpus(shipped / "train.jsonl")[:8])
    path = tmp_path / "config.yaml"
    path.write_text(
        f"run: {{name: q, output_dir: {tmp_path / 'runs'}, corpora_dir: {corpora}}}\n"
        f"model: {{base_model: {base_model}, method: lora}}\n"
        "training: {eval_batch_size: 4, max_new_tokens: 8}\n"
        "specialists: {ascii: {corpus: ascii_specialist, track: ascii}}\n"
    )
    return path


def test_the_base_arm_refuses_a_base_trained_from_scratch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = quality.main(["--arms", "base", "--config", str(_config(tmp_path, "builtin:tiny")),
                         "--out", str(tmp_path / "q.json")])  # fmt: skip
    assert code == 2
    assert "the base arm grades a pretrained base" in capsys.readouterr().err
    assert not (tmp_path / "q.json").exists()


def test_the_base_arm_grades_every_example_of_every_split(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tiny = TinyModelSection(vocab_size=512, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=1,
                            num_kv_heads=1, head_dim=32, max_position_embeddings=512)  # fmt: skip
    base = ensure_tiny_base(tiny, [REPO / "corpora" / "phase1_general" / "train.jsonl"], tmp_path / "bases")
    out = tmp_path / "q.json"
    code = quality.main(["--arms", "base", "--config", str(_config(tmp_path, str(base))), "--out", str(out),
                         "--threads", "1"])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["nights"] == {} and list(result["arms"]) == ["base"]
    arm = result["arms"]["base"]
    assert set(arm["splits"]) == set(SPLITS)
    for track, split in arm["splits"].items():
        assert split["n"] == VAL_ROWS and split["expert"] == "base" and split["weights"] == str(base), track
        assert sum(family["n"] for family in split["per_task"].values()) == VAL_ROWS
    assert "night_wall" not in arm["targets"] and arm["all_met"] is False  # random weights answer nothing


def test_a_night_that_promoted_nothing_is_an_error_naming_its_exit_code_and_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nights = tmp_path / "nights"
    (nights / "demo").mkdir(parents=True)
    (nights / "demo.night.json").write_text(json.dumps({
        "kind": "demo", "run_dir": str(nights / "demo"), "measured": True, "exit_code": 1,
        "log": str(nights / "demo.log"), "wall_s": 12.0, "cpu_s": 20.0,
    }))  # fmt: skip
    config = _config(tmp_path, "builtin:tiny")
    code = quality.main(["--arms", "specialist", "--skip-nights", "--output-dir", str(nights),
                         "--config", str(config), "--out", str(tmp_path / "q.json")])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "nothing has been promoted in run 'demo'" in error
    assert f"(the night exited 1; its log: {nights / 'demo.log'})" in error
    # The night's record is kept even though no arm could be graded.
    assert json.loads((tmp_path / "q.json").read_text())["nights"]["demo"]["exit_code"] == 1
