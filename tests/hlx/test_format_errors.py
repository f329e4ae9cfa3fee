"""Every error code of HLX_SPEC §5 from a bad input, with the offset and the message that explains it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlx import lcb
from hlx.errors import (
    E_CONTRACT_STRUCTURE,
    E_DEPTH_EXCEEDED,
    E_FIELD_ORDER,
    E_FLOAT_SPECIAL,
    E_INVALID_CHAR,
    E_LC_PARSE,
    E_SIZE_EXCEEDED,
    E_UNEXPECTED_TOKEN,
    HLXError,
)
from hlx.formats import parse, render
from hlx.hlxl import parse_hlxl_prefix
from hlx.values import MAX_LCB_BYTES

BAD_INPUTS = [
    # E_INVALID_CHAR: a character the format never allows outside strings, or a raw control char in one.
    ("hlxl", "[1, $]", E_INVALID_CHAR, 4, r"character '\$' \(U\+0024\) is not allowed in HLXL"),
    ("hlxl", "[1, 🐃]", E_INVALID_CHAR, 4, "not allowed in HLXL outside strings"),
    ("lc-t", "[1;2]", E_INVALID_CHAR, 2, "not allowed in LC-T"),
    ("lc-r", "[1]", E_INVALID_CHAR, 0, r"character '\[' .* not allowed in LC-R"),
    ("hlxl", '"a\nb"', E_INVALID_CHAR, 2, "raw control character U\\+000A in a string; escape it"),
    ("lc-b", "01 FG", E_INVALID_CHAR, 1, "'G' is not a hex digit"),
    # E_UNEXPECTED_TOKEN: HLXL syntax; the message names the token found and what was expected.
    ("hlxl", "[1 2]", E_UNEXPECTED_TOKEN, 3, r"expected '\]' or ',', found '2'"),
    ("hlxl", "[1, ]", E_UNEXPECTED_TOKEN, 4, r"expected a value, found '\]'"),
    ("hlxl", "[1, 2", E_UNEXPECTED_TOKEN, 5, "found end of input"),
    ("hlxl", "1 2", E_UNEXPECTED_TOKEN, 2, "expected end of input, found '2'"),
    ("hlxl", "NULL", E_UNEXPECTED_TOKEN, 0, r"expected a value \(HLXL writes null\), found 'NULL'"),
    ("hlxl", "{a: 1, a: 2}", E_UNEXPECTED_TOKEN, 7, "record key 'a' appears twice"),
    ("hlxl", "007", E_UNEXPECTED_TOKEN, 0, "number 007 has a leading zero"),
    ("hlxl", "0xABC", E_UNEXPECTED_TOKEN, 0, "odd number of hex digits"),
    ("hlxl", '"ab', E_UNEXPECTED_TOKEN, 3, "closing quote for the string opened at 0"),
    ("hlxl", "&h_9", E_UNEXPECTED_TOKEN, 3, "a handle name"),
    ("hlxl", "{14: {@0: 1}", E_UNEXPECTED_TOKEN, 12, r"expected '}}' or ', @', found end of input"),
    # E_LC_PARSE: LC-T / LC-R syntax, and LC-B unknown tag, truncation, trailing bytes.
    ("lc-t", "[1,2,]", E_LC_PARSE, 5, r"expected a value, found '\]'"),
    ("lc-t", "null", E_LC_PARSE, 0, r"LC-T writes NULL"),
    ("lc-t", "{14:1}", E_LC_PARSE, 1, "expected a record key, found '14'"),
    ("lc-r", "🐃1 2🐄", E_LC_PARSE, 3, "expected '🐄' or ',', found '2'"),
    ("lc-r", "◇a: 1", E_LC_PARSE, 5, "expected '◆' or ','"),
    ("lc-b", "0E", E_LC_PARSE, 0, "unknown tag 0x0E"),
    ("lc-b", "06", E_LC_PARSE, 0, "array end tag 0x06 where a value was expected"),
    ("lc-b", "03 02 68", E_LC_PARSE, 3, "input ends early: a text needs 2 byte"),
    ("lc-b", "01 FB", E_LC_PARSE, 2, "input ends early: an int"),
    ("lc-b", "05 01 01", E_LC_PARSE, 3, "input ends before the array end tag 0x06"),
    ("lc-b", "01 FB 00 00", E_LC_PARSE, 3, r"1 trailing byte\(s\) after the value"),
    ("lc-b", "", E_LC_PARSE, 0, "a value tag needs 1 byte"),
    ("lc-b", "03 01 FF", E_LC_PARSE, 2, "not valid utf-8"),
    ("lc-b", "09 01 31", E_LC_PARSE, 0, "handle name '1' must match"),
    ("lc-b", "0C 01 61 00 01 61 00 0D", E_LC_PARSE, 4, "record key 'a' appears twice"),
    ("lc-b", "0 1", E_LC_PARSE, 0, "odd number of digits"),
    # E_FLOAT_SPECIAL: NaN and infinity, written or overflowing.
    ("hlxl", "[nan]", E_FLOAT_SPECIAL, 1, "nan is not allowed"),
    ("hlxl", "-Infinity", E_FLOAT_SPECIAL, 0, "-Infinity is not allowed"),
    ("lc-t", "1e999", E_FLOAT_SPECIAL, 0, "inf is not allowed"),
    ("lc-r", "🐃inf🐄", E_FLOAT_SPECIAL, 1, "inf is not allowed"),
    ("lc-b", "02 7F F8 00 00 00 00 00 00", E_FLOAT_SPECIAL, 0, "nan is not allowed"),
    # E_CONTRACT_STRUCTURE: a contract id or field index that is not an int >= 0.
    ("hlxl", "{-1: {}}", E_CONTRACT_STRUCTURE, 1, "contract id must be an int >= 0, found -1"),
    ("hlxl", "{1.5: {}}", E_CONTRACT_STRUCTURE, 1, "contract id must be an int >= 0, found 1.5"),
    ("hlxl", "{14: {@x: 1}}", E_CONTRACT_STRUCTURE, 7, "field index must be an int >= 0, found 'x'"),
    ("lc-t", "{C:-3}", E_CONTRACT_STRUCTURE, 3, "contract id must be an int >= 0"),
    ("lc-t", '{C:"x"}', E_CONTRACT_STRUCTURE, 3, "found a string"),
    ("lc-t", "{C:14,a=1}", E_CONTRACT_STRUCTURE, 6, "field index must be an int >= 0, found 'a'"),
    ("lc-r", "🐊-1🐂", E_CONTRACT_STRUCTURE, 1, "contract id must be an int >= 0"),
    ("lc-r", "🐊14🐁2.5 1🐂", E_CONTRACT_STRUCTURE, 4, "field index must be an int >= 0, found 2.5"),
    # E_FIELD_ORDER: indices not strictly ascending (duplicates included).
    ("hlxl", "{14: {@1: 1, @0: 2}}", E_FIELD_ORDER, 14, "field @0 comes after @1"),
    ("lc-t", "{C:14,2=1,2=2}", E_FIELD_ORDER, 10, "field @2 comes after @2"),
    ("lc-r", "🐊14🐁3 1🐁1 2🐂", E_FIELD_ORDER, 8, "field @1 comes after @3"),
    ("lc-b", "07 0E 01 01 01 00 01 01 08", E_FIELD_ORDER, 5, "field @0 comes after @1"),
    # E_DEPTH_EXCEEDED: the 65th nested container, reported at its opener.
    ("hlxl", "[" * 65 + "]" * 65, E_DEPTH_EXCEEDED, 64, "nesting deeper than 64 levels"),
    ("lc-t", "{C:1,0=" * 65 + "}" * 65, E_DEPTH_EXCEEDED, 7 * 64, "nesting deeper than 64"),
    ("lc-r", "◇a: " * 65 + "◆" * 65, E_DEPTH_EXCEEDED, 4 * 64, "nesting deeper than 64"),
    ("lc-b", "05 " * 65 + "06 " * 65, E_DEPTH_EXCEEDED, 64, "nesting deeper than 64"),
]


@pytest.mark.parametrize(
    ("fmt", "text", "code", "offset", "message"),
    [pytest.param(*case, id=f"{case[0]}:{case[1][:24]!r}") for case in BAD_INPUTS],
)
def test_bad_input_raises_the_spec_error_at_its_offset(
    fmt: str, text: str, code: int, offset: int, message: str
) -> None:
    with pytest.raises(HLXError, match=message) as caught:
        parse(text, fmt)
    assert (caught.value.code, caught.value.offset) == (code, offset), str(caught.value)


def test_exactly_64_levels_are_allowed_in_every_format() -> None:
    deepest = parse("[" * 64 + "]" * 64, "hlxl")
    for fmt in ("hlxl", "lc-t", "lc-r", "lc-b"):
        assert parse(render(deepest, fmt), fmt) == deepest


def test_rendering_a_value_nested_65_deep_is_refused() -> None:
    value: list[object] = []
    for _ in range(64):
        value = [value]
    for fmt in ("hlxl", "lc-r", "lc-b"):
        with pytest.raises(HLXError, match="deeper than 64 levels") as caught:
            render(value, fmt)
        assert caught.value.code == E_DEPTH_EXCEEDED


def test_lcb_input_over_one_mebibyte_is_refused_before_decoding() -> None:
    oversized = bytes([0x04]) + lcb.leb128(MAX_LCB_BYTES, signed=False) + bytes(MAX_LCB_BYTES)
    with pytest.raises(HLXError, match=r"LC-B input is 1048580 bytes, over the 1048576-byte limit") as caught:
        lcb.decode(oversized)
    assert (caught.value.code, caught.value.offset) == (E_SIZE_EXCEEDED, MAX_LCB_BYTES)


def test_lcb_encoding_over_one_mebibyte_is_refused() -> None:
    with pytest.raises(HLXError, match="over the 1048576-byte limit; split the value") as caught:
        lcb.encode(bytes(MAX_LCB_BYTES))
    assert caught.value.code == E_SIZE_EXCEEDED


def test_lcb_just_under_the_limit_round_trips() -> None:
    payload = bytes(MAX_LCB_BYTES - 4)  # tag + 3-byte length + payload = exactly 1 MiB
    assert len(lcb.encode(payload)) == MAX_LCB_BYTES
    assert lcb.decode(lcb.encode(payload)) == payload


@pytest.mark.parametrize("fmt", ["hlxl", "lc-t", "lc-r", "lc-b"])
def test_rendering_nan_is_refused(fmt: str) -> None:
    with pytest.raises(HLXError, match="nan is not allowed") as caught:
        render([float("nan")], fmt)
    assert caught.value.code == E_FLOAT_SPECIAL


def test_rendering_a_non_value_names_the_python_type() -> None:
    with pytest.raises(TypeError, match="tuple is not an HLX value"):
        render((1, 2), "hlxl")


def test_huge_int_literal_is_a_size_error_not_a_crash() -> None:
    with pytest.raises(HLXError, match="int literal too long to read") as caught:
        parse("[" + "9" * 5000 + "]", "hlxl")
    assert (caught.value.code, caught.value.offset) == (E_SIZE_EXCEEDED, 1)


def test_lone_surrogate_escape_is_refused() -> None:
    with pytest.raises(HLXError, match="lone surrogate") as caught:
        parse('"\\ud800"', "lc-t")
    assert (caught.value.code, caught.value.offset) == (E_LC_PARSE, 0)


def test_prefix_parser_reports_offsets_in_the_whole_text() -> None:
    with pytest.raises(HLXError, match=r"expected '\]' or ','") as caught:
        parse_hlxl_prefix("let x = [1 2];", 8)
    assert (caught.value.code, caught.value.offset) == (E_UNEXPECTED_TOKEN, 11)


def test_prefix_parser_stops_right_after_the_value() -> None:
    assert parse_hlxl_prefix("let x =  {a: &h_b} ;", 7) == (parse("{a: &h_b}", "hlxl"), 18)


FUZZ_ALPHABET = '[]{},:="\\@&h_xCNULTRUE0123456789.-+eE ∅⊤⊥🐃🐄🐊🐁🐂◇◆⟁\n$é'


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list(FUZZ_ALPHABET)), max_size=30),
    fmt=st.sampled_from(["hlxl", "lc-t", "lc-r", "lc-b"]),
)
def test_any_string_parses_or_raises_hlx_error_only(text: str, fmt: str) -> None:
    # The answer checker relies on this: a model's output can be any string.
    try:
        parse(text, fmt)
    except HLXError as err:
        assert 0 <= err.offset <= len(text)
