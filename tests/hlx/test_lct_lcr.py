"""hlx/lct.py and hlx/lcr.py on their own: each row of HLX_SPEC's four-format table (copied by hand) parses to
the value its HLXL names and renders back to exactly the spec's text."""

from __future__ import annotations

import pytest

from hlx import hlxl, lcr, lct

SPEC_ROWS = [
    # (HLXL, LC-T, LC-R)
    ("null", "NULL", "∅"),
    ("true", "TRUE", "⊤"),
    ("false", "FALSE", "⊥"),
    ("123", "123", "123"),
    ("3.5", "3.5", "3.5"),
    ('"hi"', '"hi"', '"hi"'),
    ("0xDEAD", "0xDEAD", "0xDEAD"),
    ("[1, 2]", "[1,2]", "🐃1, 2🐄"),
    ("{14: {@0: 123}}", "{C:14,0=123}", "🐊14🐁0 123🐂"),
    ("&h_docs", "@docs", "⟁docs"),
    ('{name: "A", n: 1}', '{name:"A",n:1}', '◇name: "A", n: 1◆'),
]


@pytest.mark.parametrize(("hlxl_text", "lct_text", "lcr_text"), SPEC_ROWS)
def test_each_spec_row_parses_and_renders_canonically(hlxl_text: str, lct_text: str, lcr_text: str) -> None:
    value = hlxl.parse(hlxl_text)
    assert lct.parse(lct_text) == value
    assert lcr.parse(lcr_text) == value
    assert lct.render(value) == lct_text
    assert lcr.render(value) == lcr_text


def test_a_record_whose_first_key_is_c_is_quoted_in_lct() -> None:
    value = hlxl.parse("{C: 1}")
    assert lct.render(value) == '{"C":1}'
    assert lct.parse('{"C":1}') == value
