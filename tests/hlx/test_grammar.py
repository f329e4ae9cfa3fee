"""Tests for the value-format grammars against the toolkit: canonical renderings accepted, rejects refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import xgrammar as xgr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hlx import errors as codes
from hlx.corpus_io import read_corpus
from hlx.errors import HLXError
from hlx.formats import parse, render
from hlx.grammar import GRAMMAR_FORMATS, MAX_LCB_PAYLOAD, dead_end, grammar_text, has_grammar
from hlx.values import Contract, Handle, Record
from tests.hlx.strategies import values

REPO = Path(__file__).resolve().parents[2]
# What a context-free grammar cannot check (hlx/grammar.py's docstring): the grammar accepts these and the
# toolkit rejects them, with these errors.
CFG_BLIND_CODES = {codes.E_FIELD_ORDER, codes.E_DEPTH_EXCEEDED, codes.E_SIZE_EXCEEDED, codes.E_FLOAT_SPECIAL}
# Characters mutations insert: every format's punctuation and glyphs, digits, letters, escapes.
MUTATION_ALPHABET = list('[]{}(),:;=@&_-+."\\ 0189AaCcDEFfhlnux∅⊤⊥🐃🐄🐊🐁🐂◇◆⟁')


def _vocabulary() -> xgr.TokenizerInfo:
    # Every byte as a token plus an end token: enough to match any string byte by byte.
    vocab = [bytes([byte]) for byte in range(256)] + [b"<eos>"]
    return xgr.TokenizerInfo(vocab, xgr.VocabType.RAW, stop_token_ids=[256])


COMPILER = xgr.GrammarCompiler(_vocabulary())
COMPILED = {fmt: COMPILER.compile_grammar(grammar_text(fmt)) for fmt in GRAMMAR_FORMATS}


def accepts(fmt: str, text: str) -> bool:
    matcher = xgr.GrammarMatcher(COMPILED[fmt])
    return matcher.accept_string(text.encode("utf-8")) and matcher.is_completed()


def toolkit_error(fmt: str, text: str) -> HLXError | None:
    try:
        parse(text, fmt)
    except HLXError as err:
        return err
    return None


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values())
def test_every_canonical_rendering_is_accepted(value: object) -> None:
    for fmt in GRAMMAR_FORMATS:
        text = render(value, fmt)
        assert accepts(fmt, text), (fmt, text)


def _mutate(text: str, data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from(["delete", "insert", "swap", "cut"]))
    if not text:
        return data.draw(st.sampled_from(MUTATION_ALPHABET))
    at = data.draw(st.integers(0, len(text) - 1))
    if kind == "delete":
        return text[:at] + text[at + 1:]
    if kind == "insert":
        return text[:at] + data.draw(st.sampled_from(MUTATION_ALPHABET)) + text[at:]
    if kind == "swap" and at + 1 < len(text):
        return text[:at] + text[at + 1] + text[at] + text[at + 2:]
    return text[:at]


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values(max_leaves=6), st.sampled_from(GRAMMAR_FORMATS), st.data())
def test_what_the_grammar_accepts_the_toolkit_parses(value: object, fmt: str, data: st.DataObject) -> None:
    text = render(value, fmt)
    for _ in range(data.draw(st.integers(1, 3))):
        text = _mutate(text, data)
    if not accepts(fmt, text):
        return
    error = toolkit_error(fmt, text)
    # Besides the CFG-blind errors, a repeated record key (a syntax error whose message says so).
    assert error is None or error.code in CFG_BLIND_CODES or "appears twice" in str(error), (fmt, text, error)


REJECTED: list[tuple[str, str]] = [
    ("hlxl", "[1, 2"),
    ("hlxl", "01"),
    ("hlxl", "1."),
    ("hlxl", "0xABC"),
    ("hlxl", "NaN"),
    ("hlxl", "-inf"),
    ("hlxl", '"\\ud800"'),
    ('hlxl', '"\\udc00\\ud800"'),
    ("hlxl", '"a\\qb"'),
    ("hlxl", '"tab\there"'),
    ("hlxl", "&h_1a"),
    ("hlxl", "{-1: {}}"),
    ("hlxl", "{14: {@0.5: 1}}"),
    ("hlxl", '{"a b": 1}'),
    ("hlxl", "NULL"),
    ("lc-t", "null"),
    ("lc-t", '{C:"x"}'),
    ("lc-t", "{C:1,a=2}"),
    ("lc-t", "{C:1}}"),
    ("lc-r", "🐃1, 2"),
    ("lc-r", "🐊14🐁@0 1🐂"),
    ("lc-r", "◇1: 2◆"),
    ("lc-b", "03 02 41"),
    ("lc-b", "03 01 41 42"),
    ("lc-b", "02 7F F0 00 00 00 00 00 00"),
    ("lc-b", "02 FF F8 00 00 00 00 00 01"),
    ("lc-b", "07 00 08 00 08"),
    ("lc-b", "09 01 31"),
    ("lc-b", "0C 01 31 00 0D"),
    ("lc-b", "0C 0D 61 61 61 61 61 61 61 61 61 61 61 61 61 00 0D"),
    ("lc-b", "03 01 C3"),
    ("lc-b", "03 03 ED A0 80"),
    ("lc-b", "03 02 C0 80"),
    ("lc-b", "01 80"),
    ("lc-b", "06"),
    ("lc-b", "0E"),
]


@pytest.mark.parametrize(("fmt", "text"), REJECTED)
def test_inputs_the_toolkit_rejects_are_rejected(fmt: str, text: str) -> None:
    assert toolkit_error(fmt, text) is not None, "the table must hold toolkit rejects only"
    assert not accepts(fmt, text)


@pytest.mark.parametrize(
    ("fmt", "text", "code"),
    [
        ("hlxl", "{14: {@1: 1, @0: 2}}", codes.E_FIELD_ORDER),
        ("lc-r", "🐊14🐁1 1🐁0 2🐂", codes.E_FIELD_ORDER),
        ("lc-b", "07 0E 01 01 01 00 01 01 08", codes.E_FIELD_ORDER),
        ("lc-t", "1e999", codes.E_FLOAT_SPECIAL),
        ("hlxl", "[" * 65 + "]" * 65, codes.E_DEPTH_EXCEEDED),
    ],
)
def test_documented_blind_spots(fmt: str, text: str, code: int) -> None:
    """What a context-free grammar cannot check, pinned so hlx/grammar.py's docstring stays true."""
    error = toolkit_error(fmt, text)
    assert error is not None and error.code == code
    assert accepts(fmt, text)


def test_lcb_payloads_are_spelled_out_up_to_127_bytes() -> None:
    assert MAX_LCB_PAYLOAD == 127
    assert accepts("lc-b", render("a" * 127, "lc-b"))
    assert accepts("lc-b", render(Handle("h" * 127), "lc-b"))
    assert not accepts("lc-b", render("a" * 128, "lc-b"))  # a two-byte length: outside the grammar
    assert not accepts("lc-b", "03 7F" + " 61" * 126)  # one byte short


def test_edge_cases_of_the_canonical_forms() -> None:
    record_c = Record((("C", 1),))
    assert render(record_c, "lc-t") == '{"C":1}' and accepts("lc-t", '{"C":1}')
    assert not accepts("lc-t", "{C:1,C:2}") and accepts("lc-t", "{C:1}")  # `{C:` opens a contract
    thirteen = render(Record((("abcdefghijklm", None),)), "lc-b")
    assert thirteen.startswith("0C 8D 00") and accepts("lc-b", thirteen)
    eight = render(Contract(0, ((8, None),)), "lc-b")
    assert eight == "07 00 88 00 00 08" and accepts("lc-b", eight)
    assert accepts("hlxl", '"\\ud83d\\ude00"') and accepts("lc-r", '"😀"')


def test_non_canonical_spacing_is_outside_the_grammar() -> None:
    assert toolkit_error("hlxl", "[1,2]") is None and not accepts("hlxl", "[1,2]")
    assert toolkit_error("lc-b", "01 fb 00") is None and not accepts("lc-b", "01 fb 00")


def test_every_shipped_reference_in_a_value_format_is_accepted() -> None:
    checked = 0
    for path in sorted((REPO / "corpora").glob("*/val.jsonl")):
        for example in read_corpus(path):
            if has_grammar(example.format):
                assert accepts(example.format, example.response), (path.name, example.id, example.response)
                checked += 1
    assert checked > 100


def test_grammar_lookup() -> None:
    assert has_grammar("LC-B") and has_grammar(" hlxl ") and not has_grammar("diagnostic")
    assert not has_grammar(None)
    with pytest.raises(ValueError, match="no grammar for format 'text'; formats with one: hlxl, lc-t"):
        grammar_text("text")


@pytest.mark.parametrize(
    ("fmt", "prefix", "dead"),
    [
        ("lc-t", "{C:1,0=1,0", True),  # an index 0 cannot grow
        ("lc-t", "{C:1,12=1,1", False),  # 1 may still become 13
        ("lc-t", "{C:1,12=1,1=", True),
        ("lc-t", "{C:1,0=1,1", False),
        ("lc-t", "{a:1,a", False),  # the key may still become `ab`
        ("lc-t", "{a:1,a:", True),
        ("lc-t", '{a:1,"a"', True),
        ("hlxl", "{14: {@3: 1, @2", False),
        ("hlxl", "{14: {@3: 1, @2:", True),
        ("lc-r", "🐊1🐁5 1🐁5", False),
        ("lc-r", "🐊1🐁5 1🐁5 ", True),
        ("lc-b", "07 01 05 00 05", True),
        ("lc-b", "07 01 05 00 06", False),
        ("lc-b", "07 01 05 00 0", False),
        ("lc-b", "0C 01 61 00 01 61", True),
        ("hlxl", "[1, 2", False),
    ],
)
def test_dead_ends_the_grammar_cannot_see(fmt: str, prefix: str, dead: bool) -> None:
    assert accepts_prefix(fmt, prefix)
    assert dead_end(prefix, fmt) is dead


def accepts_prefix(fmt: str, text: str) -> bool:
    return xgr.GrammarMatcher(COMPILED[fmt]).accept_string(text.encode("utf-8"))
