"""Token-by-token transliteration between HLXL (ASCII) and HLX (runic) programs, an exact bijection.

Only keyword tokens (`let` <-> `⊢`, `ls.collapse` <-> `⚳`, ...), the pipe (`|>` <-> `▷`) and handle prefixes
(`&h_docs` <-> `⟁docs`) change; whitespace, comments, string literals, names and every other token are copied
byte for byte. Names that merely contain a keyword (`blocker`, `lettuce`, `iffy`) are single tokens and stay.

Why it is a bijection (HLX_SPEC §3): the input must parse on its own track, and the lexer of each track
refuses the other track's spellings outside strings and comments. Two rules close the remaining gaps:
- a runic keyword glyph may not touch a name, a number or another keyword glyph (`⊢x` is an error; write
  `⊢ x`), exactly as HLXL needs a space in `let x`; otherwise `⊢x` would become the single name `letx`;
- a runic program may not spell anything the HLXL way (`let`, `&h_x`, `|>` are errors there), even as a
  record key inside a value: HLXL `{let: 1}` transliterates to `{⊢: 1}` and back.
No other glyph can map back ambiguously: every glyph has one ASCII spelling, every ASCII spelling one glyph,
and none of the replacements can merge with a neighbour into a different token (`&&⟁x` <-> `&&&h_x` lexes as
`&&` then the handle in both tracks).
"""

from __future__ import annotations

from hlx.lexer import respell
from hlx.program import parse_program


def to_runic(code: str) -> str:
    """The HLX (runic) spelling of an HLXL program; HLXError when `code` is not a valid HLXL program."""
    return _transliterate(code, "hlxl")


def to_ascii(code: str) -> str:
    """The HLXL (ASCII) spelling of an HLX program; HLXError when `code` is not a valid HLX program."""
    return _transliterate(code, "hlx")


def _transliterate(code: str, track: str) -> str:
    parse_program(code, track)
    respelled = respell(code, track)
    if respelled.error is not None:
        raise respelled.error
    return respelled.text
