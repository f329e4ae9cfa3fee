"""Tests of `overnight hlx convert|transliterate|diagnose|check` through a real argparse parser."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from hlx.cli import register

PROGRAM = "program p { block b() { let x = &h_docs |> (e) { return e; }; } } // let\n"
RUNIC = "⟠ p { ◇ b() { ⊢ x = ⟁docs ▷ (e) { ↩ e; }; } } // let\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Parse argv as `overnight ...` would, run the handler, return (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="overnight")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def feed_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


@pytest.mark.parametrize(("argv", "printed"), [
    (("--to", "lc-b", "[1, 2]"), "05 01 01 01 02 06"),
    (("--to", "LC-R", "{14: {@0: 123}}"), "🐊14🐁0 123🐂"),
    (("--from", "lc-t", "--to", "hlxl", "{C:14,0=1}"), "{14: {@0: 1}}"),
    (("--to", "hlxl", "⟁docs"), "&h_docs"),
])
def test_convert_prints_the_canonical_text(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                           printed: str) -> None:
    assert run(capsys, "hlx", "convert", *argv) == (0, printed + "\n", "")


def test_convert_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    feed_stdin(monkeypatch, "[1,2]\n")
    assert run(capsys, "hlx", "convert", "--to", "lc-t", "-") == (0, "[1,2]\n", "")


def test_convert_bad_input_exits_2_with_the_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "hlx", "convert", "--from", "hlxl", "--to", "lc-t", "[1,") == (
        2, "", "E_UNEXPECTED_TOKEN (1101) at 3: expected a value, found end of input\n")


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "hlx", "convert", "--to", "yaml", "1")
    assert exit_info.value.code == 2
    assert "unknown value format 'yaml'; use one of hlxl, lc-t, lc-r, lc-b" in capsys.readouterr().err


def test_transliterate_a_file_both_ways(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "p.hlxl").write_text(PROGRAM, encoding="utf-8")
    (tmp_path / "p.hlx").write_text(RUNIC, encoding="utf-8")
    assert run(capsys, "hlx", "transliterate", "--to", "hlx", str(tmp_path / "p.hlxl")) == (0, RUNIC, "")
    assert run(capsys, "hlx", "transliterate", "--to", "HLXL", str(tmp_path / "p.hlx")) == (0, PROGRAM, "")


def test_transliterate_reads_stdin_by_default(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    feed_stdin(monkeypatch, RUNIC)
    assert run(capsys, "hlx", "transliterate", "--to", "hlxl") == (0, PROGRAM, "")


def test_transliterate_bad_program_exits_2(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    feed_stdin(monkeypatch, RUNIC)
    code, out, err = run(capsys, "hlx", "transliterate", "--to", "hlx", "-")
    assert (code, out) == (2, "")
    assert err == ("E_UNEXPECTED_TOKEN (1101) at 0: runic glyph '⟠' in an HLXL program; "
                   "the ASCII track writes 'program'\n")


def test_transliterate_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.hlxl"
    code, out, err = run(capsys, "hlx", "transliterate", "--to", "hlx", str(missing))
    assert (code, out) == (2, "")
    assert err.startswith(f"hlx transliterate: cannot read {str(missing)!r} ([Errno 2] No such file")
    assert err.endswith("pass an existing UTF-8 program file, or - to read standard input\n")


@pytest.mark.parametrize(("argv", "code", "printed"), [
    (("[1, 2]",), 0, "OK"),
    (("[1, 2",), 1, "E_UNEXPECTED_TOKEN (1101) at 5: expected ']' or ',', found end of input"),
    (("--format", "lc-t", "{C:14,0=}"), 1, "E_LC_PARSE (1100) at 8: expected a value, found '}'"),
    (("--format", "LC-R", "⟁docs"), 0, "OK"),
    (("program p { block b() { let = 1; } }",), 1,
     "E_UNEXPECTED_TOKEN (1101) at 28: unexpected '='; expected a variable name after 'let'"),
    (("// comment\n⟠ p {}",), 0, "OK"),
    (("--format", "hlx-program", "program p {}"), 1,
     "E_UNEXPECTED_TOKEN (1101) at 0: HLXL keyword 'program' in an HLX program; the runic track writes '⟠'"),
])
def test_diagnose_prints_ok_or_the_first_error(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                               code: int, printed: str) -> None:
    assert run(capsys, "hlx", "diagnose", *argv) == (code, printed + "\n", "")


def test_diagnose_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "hlx", "diagnose", "--format", "runic", "x")
    assert "hlxl-program or hlx-program" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "code", "verdict"), [
    (("--format", "hlxl", "--reference", "[1, 2]", "[1,2]"), 0,
     {"valid": True, "correct": True, "error": None, "canonical": "[1, 2]"}),
    (("--format", "lc-r", "--reference", "🐃1🐄", "🐃2🐄"), 1,
     {"valid": True, "correct": False, "error": "output is valid lc-r but denotes a different value than the "
      "reference", "canonical": "🐃2🐄"}),
    (("--format", "Diagnostic", "--reference", "OK", "nonsense"), 3,
     {"valid": False, "correct": False, "canonical": None,
      "error": "output is neither OK nor a line 'E_NAME (code) at <offset>: <reason>'"}),
    (("--format", "hlxl", "--reference", "[1, 2]", "[1, 2"), 3,
     {"valid": False, "correct": False, "canonical": None,
      "error": "output is not valid hlxl: E_UNEXPECTED_TOKEN (1101) at 5: expected ']' or ',', found end of "
      "input"}),
    (("--format", "text", "--reference", "Contract 14", "Contract   14"), 0,
     {"valid": True, "correct": True, "error": None, "canonical": "Contract 14"}),
    (("--format", "text", "--reference", "Contract 14", "Contract 16"), 1,
     {"valid": True, "correct": False, "canonical": "Contract 16",
      "error": "output text differs from the reference (whitespace ignored)"}),
])
def test_check_prints_the_verdict_json_and_exits_with_the_grade(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], code: int, verdict: dict[str, object]
) -> None:
    exit_code, out, err = run(capsys, "hlx", "check", *argv)
    assert (exit_code, err) == (code, "")
    assert json.loads(out) == verdict


def test_check_an_invalid_reference_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "hlx", "check", "--format", "lc-t", "--reference", "{C:14,", "{C:14}") == (
        2,
        "",
        "hlx check: --reference is not a valid lc-t answer (output is not valid lc-t: E_LC_PARSE (1100) "
        "at 6: expected a field index, found end of input); pass the expected answer in that format\n",
    )


def test_check_help_lists_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "hlx", "check", "--help")
    out = capsys.readouterr().out
    for line in ("0  the answer is valid FMT and correct", "1  the answer is valid FMT but wrong",
                 "2  bad usage", "3  the answer is not valid FMT"):
        assert line in out


def test_check_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "hlx", "check", "--format", "yaml", "--reference", "1", "1")
    assert "unknown format 'yaml'; use one of hlxl, lc-t" in capsys.readouterr().err


def test_bare_hlx_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "hlx")
    assert (code, out) == (2, "")
    assert "convert" in err and "examples:" in err


@pytest.mark.parametrize("command", ["convert", "transliterate", "diagnose", "check"])
def test_every_subcommand_has_help_with_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "hlx", command, "--help")
    assert exit_info.value.code == 0
    assert f"overnight hlx {command}" in capsys.readouterr().out.split("examples:")[1]
