"""`overnight base build`: its help, and clear errors for bad options and inputs (no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from overnight import main


def test_help_says_what_the_build_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["base", "build", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "drops every instruction of the shipped val splits" in out
    assert "--size SIZE" in out and "(default: 30000)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "0"], "--size must be >= 1, got 0"),
        (["--epochs", "-1"], "--epochs must be >= 1, got -1"),
        (["--threads", "-2"], "--threads must be >= 0, got -2"),
    ],
)
def test_bad_numbers_exit_2_naming_the_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["base", "build", *argv]) == 2
    assert capsys.readouterr().err == f"overnight base build: {message}\n"


def test_missing_corpora_exit_2_with_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-corpora"
    code = main(["base", "build", "--size", "5", "--corpora", str(missing), "--work", str(tmp_path / "w"),
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("overnight base build: ") and str(missing) in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
