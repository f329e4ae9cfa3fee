"""Tests that HLXL <-> HLX transliteration is token by token and an exact bijection (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlx.errors import HLXError
from hlx.lexer import RUNIC_OF, tokenize
from hlx.program import parse_program
from hlx.transliterate import to_ascii, to_runic
from tests.hlx.program_strategies import programs

EVERY_TOKEN_HLXL = """\
program main { // program block let
  block run(blocker, lettuce) {
    let iffy = "let x |> &h_y ⊢";
    if (iffy) { return ls.collapse tag &h_docs; } else { break; }
    while (lettuce) { let r = ls.resolve &h_x |> (e) { return ls.snapshot; }; }
    ls.transaction { blocker&&&h_z; };
  }
}"""
EVERY_TOKEN_HLX = """\
⟠ main { // program block let
  ◇ run(blocker, lettuce) {
    ⊢ iffy = "let x |> &h_y ⊢";
    ❓ (iffy) { ↩ ⚳ tag ⟁docs; } ❗ { ⌿; }
    ⟳ (lettuce) { ⊢ r = ⚯ ⟁x ▷ (e) { ↩ ⚶; }; }
    ⚿ { blocker&&⟁z; };
  }
}"""


def test_the_spec_table_token_for_token() -> None:
    assert RUNIC_OF == {
        "program": "⟠", "block": "◇", "let": "⊢", "return": "↩", "break": "⌿", "while": "⟳", "if": "❓",
        "else": "❗", "ls.collapse": "⚳", "ls.resolve": "⚯", "ls.snapshot": "⚶", "ls.transaction": "⚿",
        "|>": "▷",
    }
    assert to_runic(EVERY_TOKEN_HLXL) == EVERY_TOKEN_HLX
    assert to_ascii(EVERY_TOKEN_HLX) == EVERY_TOKEN_HLXL


@pytest.mark.parametrize(("hlxl", "hlx"), [
    ("let x = &h_docs;", "⊢ x = ⟁docs;"),
    ("let blocker = lettuce + iffy;", "⊢ blocker = lettuce + iffy;"),
    ('let s = "if else |> &h_a"; // let ⊢', '⊢ s = "if else |> &h_a"; // let ⊢'),
    ("let r = {let: &h_if, name: 1};", "⊢ r = {⊢: ⟁if, name: 1};"),
    ("let h = h_docs&&&h_docs;", "⊢ h = h_docs&&⟁docs;"),
    ("let ls = ls.collapse ls ls.snapshot;", "⊢ ls = ⚳ ls ⚶;"),
    ("return(x)|>(e){};", "↩(x)▷(e){};"),
])
def test_only_keywords_pipes_and_handle_prefixes_change(hlxl: str, hlx: str) -> None:
    program_hlxl = f"program p {{ block b() {{ {hlxl}\n}} }}"
    program_hlx = f"⟠ p {{ ◇ b() {{ {hlx}\n}} }}"
    assert to_runic(program_hlxl) == program_hlx
    assert to_ascii(program_hlx) == program_hlxl


@pytest.mark.parametrize(("function", "source", "match"), [
    (to_runic, "program p { block b() { let x = 1 } }", r"E_UNEXPECTED_TOKEN \(1101\) at 34"),
    (to_runic, "⟠ p {}", r"at 0: runic glyph '⟠' in an HLXL program"),
    (to_ascii, "program p {}", r"at 0: HLXL keyword 'program' in an HLX program"),
    (to_ascii, "⟠ p { ◇ b() { ⊢x = 1; } }", r"at 14: keyword glyph '⊢' touches 'x'"),
    (to_ascii, "⟠ p { ◇ b() { ↩⚶; } }", r"at 14: keyword glyph '↩' touches '⚶'"),
    (to_ascii, "⟠ p { ◇ b() { ⊢ x = &h_a; } }", r"at 20: HLXL handle prefix '&h_'"),
    (to_ascii, "⟠ p { ◇ b() { ⊢ x = a |> (e) {}; } }", r"at 22: HLXL pipe '\|>'"),
])
def test_invalid_programs_are_refused_with_the_error_line(function: object, source: str, match: str) -> None:
    with pytest.raises(HLXError, match=match):
        function(source)  # type: ignore[operator]


def _unchanged_tokens(code: str, track: str) -> list[str]:
    """Every token that both tracks spell alike, plus everything between tokens (space, comments)."""
    pieces, previous = [], 0
    for token in tokenize(code, track):
        pieces.append(code[previous:token.offset])
        if token.kind not in ("keyword", "handle") and token.value != "|>":
            pieces.append(code[token.offset:token.end])
        previous = token.end
    return pieces


@settings(max_examples=200, deadline=None)
@given(programs(max_depth=4))
def test_bijection_over_random_programs(source: str) -> None:
    runic = to_runic(source)
    assert to_ascii(runic) == source
    assert to_runic(to_ascii(runic)) == runic
    assert parse_program(runic, "hlx") == parse_program(source, "hlxl")
    assert _unchanged_tokens(runic, "hlx") == _unchanged_tokens(source, "hlxl")


@settings(max_examples=200, deadline=None)
@given(programs(max_depth=3), st.data())
def test_bijection_holds_for_every_valid_neighbour_of_a_program(source: str, data: st.DataObject) -> None:
    """Delete or duplicate one character: whatever still parses must transliterate back exactly."""
    runic = to_runic(source)
    for track, code in (("hlxl", source), ("hlx", runic)):
        at = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
        for mutant in (code[:at] + code[at + 1:], code[:at] + code[at] + code[at:]):
            try:
                parse_program(mutant, track)
            except HLXError:
                continue
            there = to_runic(mutant) if track == "hlxl" else to_ascii(mutant)
            assert (to_ascii(there) if track == "hlxl" else to_runic(there)) == mutant
