"""Every example of HLX_SPEC §2's table, to the byte, in all four formats and both directions."""

from __future__ import annotations

import pytest

from hlx.formats import FORMATS, detect_format, parse, render
from hlx.values import Contract, Handle, Record, Value, values_equal

# (value, HLXL, LC-T, LC-R, LC-B hex), copied from the spec's table.
SPEC_TABLE: list[tuple[Value, str, str, str, str]] = [
    (None, "null", "NULL", "∅", "00"),
    (True, "true", "TRUE", "⊤", "0A"),
    (False, "false", "FALSE", "⊥", "0B"),
    (123, "123", "123", "123", "01 FB 00"),
    (3.5, "3.5", "3.5", "3.5", "02 40 0C 00 00 00 00 00 00"),
    ("hi", '"hi"', '"hi"', '"hi"', "03 02 68 69"),
    (b"\xde\xad", "0xDEAD", "0xDEAD", "0xDEAD", "04 02 DE AD"),
    ([1, 2], "[1, 2]", "[1,2]", "🐃1, 2🐄", "05 01 01 01 02 06"),
    (Contract(14, ((0, 123),)), "{14: {@0: 123}}", "{C:14,0=123}", "🐊14🐁0 123🐂", "07 0E 00 01 FB 00 08"),
    (Handle("docs"), "&h_docs", "@docs", "⟁docs", "09 04 64 6F 63 73"),
    (
        Record((("name", "A"), ("n", 1))),
        '{name: "A", n: 1}',
        '{name:"A",n:1}',
        '◇name: "A", n: 1◆',
        "0C 04 6E 61 6D 65 03 01 41 01 6E 01 01 0D",
    ),
]

# The empty forms the spec's prose names, plus the canon decisions documented in the format modules.
EXTRA_TABLE: list[tuple[Value, str, str, str, str]] = [
    (Contract(14), "{14: {}}", "{C:14}", "🐊14🐂", "07 0E 08"),
    ([], "[]", "[]", "🐃🐄", "05 06"),
    (Record(()), "{}", "{}", "◇◆", "0C 0D"),
    (-0.0, "-0.0", "-0.0", "-0.0", "02 80 00 00 00 00 00 00 00"),
    (1e20, "1e+20", "1e+20", "1e+20", "02 44 15 AF 1D 78 B5 8C 40"),
    (-5, "-5", "-5", "-5", "01 7B"),
    (b"", "0x", "0x", "0x", "04 00"),
    ("é\n", '"\\u00e9\\n"', '"\\u00e9\\n"', '"é\\n"', "03 03 C3 A9 0A"),
    (Contract(2, ((8, None),)), "{2: {@8: null}}", "{C:2,8=NULL}", "🐊2🐁8 ∅🐂", "07 02 88 00 00 08"),
    (Record((("C", 1),)), "{C: 1}", '{"C":1}', "◇C: 1◆", "0C 01 43 01 01 0D"),
    (
        Contract(900, ((0, Handle("sh")), (2, "compute"))),
        '{900: {@0: &h_sh, @2: "compute"}}',
        '{C:900,0=@sh,2="compute"}',
        '🐊900🐁0 ⟁sh🐁2 "compute"🐂',
        "07 84 07 00 09 02 73 68 02 03 07 63 6F 6D 70 75 74 65 08",
    ),
]

CASES = [
    pytest.param(value, fmt, texts[i], id=f"{fmt}:{texts[i]}")
    for value, *texts in SPEC_TABLE + EXTRA_TABLE
    for i, fmt in enumerate(FORMATS)
]


@pytest.mark.parametrize(("value", "fmt", "text"), CASES)
def test_render_writes_the_table_text(value: Value, fmt: str, text: str) -> None:
    assert render(value, fmt) == text


@pytest.mark.parametrize(("value", "fmt", "text"), CASES)
def test_parse_reads_the_table_text(value: Value, fmt: str, text: str) -> None:
    assert values_equal(parse(text, fmt), value)


@pytest.mark.parametrize(("value", "fmt", "text"), CASES)
def test_detect_format_parses_the_table_text_to_the_same_value(value: Value, fmt: str, text: str) -> None:
    # Where two formats write a value identically, detection may name either; the value must not change.
    assert values_equal(parse(text, detect_format(text)), value)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("01 FB 00", "lc-b"), ("0A", "lc-b"), ("🐃1, 2🐄", "lc-r"), ("{C:14,0=123}", "lc-t"),
        ("@docs", "lc-t"), ("NULL", "lc-t"), ("&h_docs", "hlxl"), ("{14: {@0: 123}}", "hlxl"),
        ("12", "hlxl"), ('["⟁"]', "hlxl"), ("{C: 1}", "hlxl"),
    ],
)
def test_detect_format_names_the_distinctive_format(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt


@pytest.mark.parametrize(
    ("fmt", "spaced"),
    [
        ("hlxl", ' { 14 :{ @0 :123 } } '),
        ("hlxl", '{14:{@0:123}}'),
        ("lc-t", " { C : 14 , 0 = 123 } "),
        ("lc-r", " 🐊 14 🐁 0 123 🐂 "),
        ("lc-b", "07 0E 00 01 fb 00 08"),
        ("lc-b", "070E0001FB0008"),
    ],
)
def test_whitespace_the_format_allows_parses_to_the_canonical_value(fmt: str, spaced: str) -> None:
    assert values_equal(parse(spaced, fmt), Contract(14, ((0, 123),)))


def test_format_names_are_case_insensitive() -> None:
    assert render([1, 2], " LC-T ") == "[1,2]"


def test_unknown_format_name_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown value format 'json'; use one of hlxl, lc-t, lc-r, lc-b"):
        render(None, "json")
