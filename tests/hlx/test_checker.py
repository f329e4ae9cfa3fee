"""Tests of the answer checker: every expected format, and that no input string ever makes it raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlx.checker import CHECK_FORMATS, Verdict, check
from hlx.program import MAX_PROGRAM_DEPTH


@pytest.mark.parametrize(("output", "reference", "fmt", "valid", "correct", "canonical"), [
    ("[1,2]\n", "[1, 2]", "hlxl", True, True, "[1, 2]"),
    ("  {14:{@0:123}}  ", "{14: {@0: 123}}", "HLXL", True, True, "{14: {@0: 123}}"),
    ("[1, 2.0]", "[1, 2]", "hlxl", True, False, "[1, 2.0]"),
    ("[1, 2", "[1, 2]", "hlxl", False, False, None),
    ("{C:14,0=123}", "{C:14, 0=123}", "lc-t", True, True, "{C:14,0=123}"),
    ("🐃1,2🐄 ", "🐃1, 2🐄", "lc-r", True, True, "🐃1, 2🐄"),
    ("[1, 2]", "🐃1, 2🐄", "lc-r", False, False, None),
    ("05 01 01 01 02 06", "05 01 01 01 02 06", "lc-b", True, True, "05 01 01 01 02 06"),
    ("05 01 01 06", "05 01 01 01 02 06", "Lc-B", True, False, "05 01 01 06"),
    ("05 01", "05 01 01 01 02 06", "lc-b", False, False, None),
    ("program p{block b(){let x=1;}} // done", "program p {\n    block b() {\n        let x = 1;\n    }\n}",
     "hlxl-program", True, True, "program p {\n    block b() {\n        let x = 1;\n    }\n}"),
    ("program p { block b() { let x = 1.0; } }", "program p { block b() { let x = 1; } }", "hlxl-program",
     True, False, "program p {\n    block b() {\n        let x = 1.0;\n    }\n}"),
    ("⟠ p { ◇ b() { ↩ ⟁d; } }", "⟠ p {\n  ◇ b() { ↩ ⟁d; }\n}", "hlx-program", True, True,
     "⟠ p {\n    ◇ b() {\n        ↩ ⟁d;\n    }\n}"),
    ("program p {}", "⟠ p {}", "hlx-program", False, False, None),
    ("OK\n", "OK", "diagnostic", True, True, "OK"),
    ("E_LC_PARSE (1100) at 7: my words", "E_LC_PARSE (1100) at 7: reference words", "diagnostic",
     True, True, "E_LC_PARSE (1100) at 7: my words"),
    ("E_LC_PARSE (1100) at 8: x", "E_LC_PARSE (1100) at 7: x", "diagnostic", True, False,
     "E_LC_PARSE (1100) at 8: x"),
    ("E_LC_PARSE (1101) at 7: x", "E_LC_PARSE (1100) at 7: x", "diagnostic", True, False,
     "E_LC_PARSE (1101) at 7: x"),
    ("OK", "E_LC_PARSE (1100) at 7: x", "diagnostic", True, False, "OK"),
    ("the error is at 7", "OK", "diagnostic", False, False, None),
    ("E_LC_PARSE (1100) at 7: x\nmore", "OK", "diagnostic", False, False, None),
    ("  handle   docs\n", "handle docs", "text", True, True, "handle docs"),
    ("handle doc", "handle docs", "text", True, False, "handle doc"),
    (" \n ", "handle docs", "text", False, False, None),
])
def test_verdicts(output: str, reference: str, fmt: str, valid: bool, correct: bool,
                  canonical: str | None) -> None:
    verdict = check(output, reference, fmt)
    assert (verdict.valid, verdict.correct, verdict.canonical) == (valid, correct, canonical)
    assert (verdict.error is None) == correct


def test_errors_say_what_went_wrong() -> None:
    assert check("[1, 2", "[1, 2]", "hlxl").error == (
        "output is not valid hlxl: E_UNEXPECTED_TOKEN (1101) at 5: expected ']' or ',', found end of input")
    assert check("[1]", "[1", "hlxl") == Verdict(
        True, False, "reference is not valid hlxl: E_UNEXPECTED_TOKEN (1101) at 2: expected ']' or ',', "
        "found end of input", "[1]")
    assert check("program p {}", "program", "hlxl-program").error.startswith(
        "reference is not a valid hlxl-program: E_UNEXPECTED_TOKEN (1101) at 7")
    assert check("OK", "E_LC_PARSE (1100) at 7: x", "diagnostic").error == (
        "output reports OK, the reference error 1100 at 7")
    assert check("1", "1", "yaml").error == ("unknown format 'yaml'; use one of hlxl, lc-t, lc-r, lc-b, "
                                             "hlxl-program, hlx-program, diagnostic, text")


def test_to_dict_has_the_four_contract_keys() -> None:
    assert check("[1]", "[1]", "hlxl").to_dict() == {
        "valid": True, "correct": True, "error": None, "canonical": "[1]"}


def test_absurdly_deep_outputs_are_invalid_not_crashes() -> None:
    for fmt, output in (("hlxl", "[" * 5000), ("lc-r", "🐃" * 5000), ("lc-b", "05 " * 5000),
                        ("hlxl-program", "program p { block b() { return " + "(" * 5000)):
        verdict = check(output, "1", fmt)
        assert not verdict.valid
        assert "E_DEPTH_EXCEEDED (1302)" in str(verdict.error)
    nested = "(" * (MAX_PROGRAM_DEPTH + 1)
    assert "E_DEPTH_EXCEEDED (1302)" in str(check(f"program p {{ block b() {{ return {nested}", "",
                                                  "hlxl-program").error)


def test_non_string_input_is_a_verdict_too() -> None:
    verdict = check(None, "x", "text")  # type: ignore[arg-type]
    assert verdict == Verdict(False, False, verdict.error, None)
    assert "could not grade this output: AttributeError" in str(verdict.error)


formats = st.sampled_from([*CHECK_FORMATS, "HLX-Program", "", "unknown", "lc-"])
garbage = st.one_of(
    st.text(),
    st.binary(max_size=64).map(lambda raw: raw.decode("utf-8", errors="replace")),
    st.binary(max_size=64).map(lambda raw: raw.decode("latin-1")),
    st.text(alphabet="[]{}()@&h_⟁🐃🐄🐊🐁🐂◇◆∅⊤⊥⊢↩▷ \"\\:,;=0123456789.-eExXOKE_()at", max_size=40),
    st.sampled_from(["OK", "E_X (1) at 2: y", "program p {}", "⟠ p {}", "05 00", "[1, 2]", "{C:1}"]),
)


@settings(max_examples=200, deadline=None)
@given(garbage, garbage, formats)
def test_check_never_raises(output: str, reference: str, fmt: str) -> None:
    verdict = check(output, reference, fmt)
    assert isinstance(verdict.valid, bool) and isinstance(verdict.correct, bool)
    assert not verdict.correct or verdict.valid
    assert (verdict.canonical is None) == (not verdict.valid)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["hlxl", "lc-t", "lc-r", "lc-b", "hlxl-program", "hlx-program", "diagnostic", "text"]),
       garbage)
def test_a_valid_answer_is_correct_against_its_own_canonical_form(fmt: str, output: str) -> None:
    verdict = check(output, output, fmt)
    if verdict.valid:
        assert verdict.correct
        assert check(verdict.canonical, output, fmt).correct
