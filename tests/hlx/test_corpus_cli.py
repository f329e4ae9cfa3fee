"""Tests for `overnight corpus generate|validate` through a small argparse harness."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hlx.corpus_cli import register
from hlx.corpus_io import read_corpus


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="overnight")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_generate_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["corpus", "generate", "--out", str(tmp_path), "--size", "24", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path}/ascii_specialist/train.jsonl (24 records)" in out
    assert "generated corpora" in out
    for name in ("phase1_general", "ascii_specialist", "runic_specialist"):
        assert len(read_corpus(tmp_path / name / "val.jsonl")) == 2
    assert _run(["corpus", "validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "corpus validation" in out and out.rstrip().endswith("OK")


def test_validate_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"input": "x"}\n\xff\n')
    assert _run(["corpus", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:1: [unknown_shape]" in out
    assert f"error: {bad}:2: [invalid_utf8]" in out
    assert out.rstrip().endswith("2 error(s), 0 warning(s)")


def test_validate_exits_0_on_warnings_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The seeds' shape with a bare instruction, twice: a duplicate is a warning, not an error.
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"input": "HLXL: null", "output": "x"}\n' * 2, encoding="utf-8")
    assert _run(["corpus", "validate", str(seeds)]) == 0
    out = capsys.readouterr().out
    assert f"warning: {seeds}:2: [duplicate] instruction duplicates line 1" in out
    assert out.rstrip().endswith("OK, 1 warning(s)")
    seeds.write_text('{"input": "HLXL: null", "output": "x"}\n' * 2 + "{\n", encoding="utf-8")
    assert _run(["corpus", "validate", str(seeds)]) == 1
    assert capsys.readouterr().out.rstrip().endswith("1 error(s), 1 warning(s)")


def test_validate_unusable_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["corpus", "validate", str(tmp_path / "nope.jsonl")]) == 2
    assert "[missing] no such file" in capsys.readouterr().out


def test_validate_line_cap_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 2_500_000 + b"\n")
    assert _run(["corpus", "validate", "--max-line-mb", "1", str(big)]) == 1
    assert "line 1 is 2.5 MB, over the limit of 1.0 MB" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["corpus", "generate", "--size", "0"], "0 must be at least 1"),
    (["corpus", "generate", "--size", "many"], "'many' is not a whole number"),
    (["corpus", "validate"], "the following arguments are required: PATH"),
])
def test_bad_usage_exits_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_gives_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("generate", "validate"):
        with pytest.raises(SystemExit):
            _run(["corpus", command, "--help"])
        out = capsys.readouterr().out
        assert "overnight corpus " + command in out and "example" in out
