"""Tests for the shortest completions the budget guard steers onto (training/grammar_close.py)."""

from __future__ import annotations

import pytest
import xgrammar as xgr

from hlx.formats import parse
from hlx.grammar import grammar_text
from training.grammar_close import lcb_closing, text_closing

_BYTES = [bytes([byte]) for byte in range(256)]
_INFO = xgr.TokenizerInfo([*_BYTES, b"<eos>"], xgr.VocabType.RAW, stop_token_ids=[256])
_COMPILER = xgr.GrammarCompiler(_INFO)


def _matcher(fmt: str, prefix: str) -> xgr.GrammarMatcher:
    matcher = xgr.GrammarMatcher(_COMPILER.compile_grammar(grammar_text(fmt)))
    assert matcher.accept_string(prefix.encode("utf-8"))
    return matcher


@pytest.mark.parametrize(
    ("fmt", "prefix", "closed"),
    [
        ("hlxl", "", '""'),
        ("hlxl", "[[1, {", '[[1, {"_": ""}]]'),  # a quoted key comes first in the order
        ("hlxl", "{14: {@0: nu", "{14: {@0: null}}"),
        ("hlxl", "{14", '{14: {}}'),
        ("hlxl", '["a\\ud83d', '["a\\ud83d\\ude00"]'),
        ("hlxl", "-1.5e", "-1.5e0"),
        ("lc-t", "{C:1,0=TR", "{C:1,0=TRUE}"),
        ("lc-t", "{", '{"_":""}'),
        ("lc-t", "{a:1,a", '{a:1,a0:""}'),  # `a:` would repeat the key
        ("lc-t", "{C:1,12=1,1", '{C:1,12=1,100=""}'),  # `1=` would break the ascending indices
        # Just after a comma an item must be started before anything closes (the budget guard needs these
        # closings, or it closes every object at its first field).
        ("hlxl", "{800: {@0: 23,", '{800: {@0: 23, @1: ""}}'),
        ("hlxl", "[1,", '[1, ""]'),
        ("lc-t", "{C:902,0=@west,", '{C:902,0=@west,1=""}'),
        ("lc-r", "🐊1🐁0 🐃⟁", "🐊1🐁0 🐃⟁_🐄🐂"),
        ("lc-r", '"🐊', '"🐊"'),
    ],
)
def test_text_answers_close_into_values_the_toolkit_parses(fmt: str, prefix: str, closed: str) -> None:
    closing = text_closing(_matcher(fmt, prefix), prefix.encode(), fmt)
    assert closing is not None and prefix + closing.decode() == closed
    parse(closed, fmt)


def test_a_text_answer_cut_inside_a_character_closes_with_its_missing_bytes() -> None:
    written = b'"' + "🐊".encode()[:2]
    matcher = xgr.GrammarMatcher(_COMPILER.compile_grammar(grammar_text("lc-r")))
    assert matcher.accept_string(written)
    closing = text_closing(matcher, written, "lc-r")
    assert closing is not None
    parse((written + closing).decode("utf-8"), "lc-r")


@pytest.mark.parametrize(
    ("prefix", "closed"),
    [
        ("", "00"),
        ("05 05 ", "05 05 06 06"),
        ("07 0E", "07 0E 08"),
        ("07 0E 01", "07 0E 01 00 08"),
        ("07 0E 8", "07 0E 80 00 00 08"),  # index 0 as two LEB128 bytes, a null, the end
        ("03 03 E2", "03 03 E2 80 80"),
        ("03 03 E0", "03 03 E0 A0 80"),
        ("0C 02 61", "0C 02 61 5F 00 0D"),
        ("02 7F", "02 7F 00 00 00 00 00 00 00"),
        ("01 80 ", "01 80 00"),
    ],
)
def test_lcb_answers_close_with_the_bytes_the_structure_owes(prefix: str, closed: str) -> None:
    closing = lcb_closing(_matcher("lc-b", prefix), prefix)
    assert closing is not None and prefix + closing.decode() == closed
    parse(closed, "lc-b")
