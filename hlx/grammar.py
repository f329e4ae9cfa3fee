"""EBNF grammars of the value formats (hlx/grammars/*.ebnf), to decode an answer under its format's grammar.

The grammars accept the canonical spelling of every value whose LC-B payloads (texts, bytes, handle names,
record keys) are at most 127 bytes long, and nothing the toolkit rejects, except what a context-free grammar
cannot see:
- contract field indices strictly ascending (E_FIELD_ORDER) and record keys unique;
- nesting depth <= 64 (E_DEPTH_EXCEEDED), LC-B size <= 1 MiB and ints of more than 4300 digits
  (E_SIZE_EXCEEDED);
- a float literal that overflows to infinity, such as 1e999 (E_FLOAT_SPECIAL).
Text formats are accepted in canonical spacing only, LC-B as upper-case hex bytes separated by single spaces.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from hlx.errors import E_FIELD_ORDER, HLXError
from hlx.formats import parse

GRAMMAR_DIR = Path(__file__).parent / "grammars"
# Answer format -> grammar file; the three text formats share the lexemes in common.ebnf.
GRAMMAR_FILES: dict[str, str] = {
    "hlxl": "hlxl.ebnf", "lc-t": "lct.ebnf", "lc-r": "lcr.ebnf", "lc-b": "lcb.ebnf",
}
TEXT_FORMATS: frozenset[str] = frozenset({"hlxl", "lc-t", "lc-r"})
GRAMMAR_FORMATS: tuple[str, ...] = tuple(GRAMMAR_FILES)
# Longest LC-B payload the grammar spells out: lengths up to 127 are one LEB128 byte.
MAX_LCB_PAYLOAD = 127
# A record key of length 13 is written `8D 00`: the byte 0D would read as the record's end tag.
RECORD_END_LENGTH = 13


_STILL_GROWING = re.compile(r"[1-9][0-9]*|[A-Za-z_][A-Za-z0-9_]*")


def dead_end(prefix: str, fmt: str) -> bool:
    """True when `prefix` (which the grammar accepts) can no longer become a value the toolkit parses,
    because of what the grammar cannot see: a finished field index not above the one before it
    (E_FIELD_ORDER) or a finished record key that repeats one. An index or an unquoted key that runs to the
    end of the prefix is still being written and may grow (`1` can become `13`), except the index `0`."""
    try:
        parse(prefix, fmt)
    except HLXError as err:
        if err.code != E_FIELD_ORDER and "appears twice" not in str(err):
            return False
        if fmt == "lc-b":  # the decoder only reads an index or a key once its last byte is there
            return True
        growing = _STILL_GROWING.match(prefix, err.offset)
        return growing is None or growing.end() != len(prefix)
    return False


def has_grammar(fmt: str | None) -> bool:
    """True when answers in `fmt` (a corpus record's format) are decoded under a grammar."""
    return fmt is not None and fmt.strip().lower() in GRAMMAR_FILES


@cache
def grammar_text(fmt: str) -> str:
    """The complete EBNF (root rule `root`) of one answer format; ValueError for a format without one."""
    normal = fmt.strip().lower()
    if normal not in GRAMMAR_FILES:
        raise ValueError(f"no grammar for format {fmt!r}; formats with one: {', '.join(GRAMMAR_FORMATS)}")
    text = (GRAMMAR_DIR / GRAMMAR_FILES[normal]).read_text(encoding="utf-8")
    if normal in TEXT_FORMATS:
        return text + (GRAMMAR_DIR / "common.ebnf").read_text(encoding="utf-8")
    return text + lcb_payload_rules()


def _length_byte(length: int, key: bool = False) -> str:
    return "8D 00" if key and length == RECORD_END_LENGTH else f"{length:02X}"


def _repeat(rule: str, count: int) -> str:
    return f' (" " {rule}){{{count}}}' if count else ""


def _alternatives(name: str, options: list[str]) -> str:
    return f"{name} ::= " + "\n    | ".join(options) + "\n"


def lcb_payload_rules() -> str:
    """The LC-B rules that tie a length byte to exactly that many payload bytes (lengths 0-127).

    `utf8_n` is n bytes of well-formed UTF-8: its first character takes 1-4 bytes, the rest is `utf8_{n-k}`.
    """
    lengths = range(1, MAX_LCB_PAYLOAD + 1)
    rules = [_alternatives("text_payload", ['"00"', *(f'"{n:02X} " text_{n}' for n in lengths)])]
    for n in lengths:
        firsts = [f'utf8_{k} " " text_{n - k}' if k < n else f"utf8_{k}" for k in range(1, min(n, 4) + 1)]
        rules.append(_alternatives(f"text_{n}", firsts))
    byte_options = ['"00"', *(f'"{n:02X}"' + _repeat("byte", n) for n in lengths)]
    rules.append(_alternatives("bytes_payload", byte_options))
    for name, key in (("name_payload", False), ("key_payload", True)):
        options = [f'"{_length_byte(n, key)} " ident_first' + _repeat("ident_next", n - 1) for n in lengths]
        rules.append(_alternatives(name, options))
    return "".join(rules)
