"""The value-format facade: parse, render, detect and convert across HLXL, LC-T, LC-R and LC-B (hex text)."""

from __future__ import annotations

import re

from hlx import lcb
from hlx.hlxl import HLXL, TextParser, TextSyntax, render_text
from hlx.lcr import GLYPHS, LCR
from hlx.lct import LCT
from hlx.values import Value

FORMATS: tuple[str, ...] = ("hlxl", "lc-t", "lc-r", "lc-b")
TEXT_SYNTAXES: dict[str, TextSyntax] = {"hlxl": HLXL, "lc-t": LCT, "lc-r": LCR}

_SPACED_HEX_RE = re.compile(r"\s*[0-9A-Fa-f]{2}(?:\s+[0-9A-Fa-f]{2})*\s*")
_HLXL_INT_RE = re.compile(r"\s*[1-9][0-9]\s*")
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_LCT_MARKERS_RE = re.compile(r"\b(?:NULL|TRUE|FALSE)\b|\{\s*C:[0-9]|@[A-Za-z_]|=")


def normalize_format(name: str) -> str:
    """The canonical name of a value format (case and surrounding spaces ignored); ValueError if unknown."""
    normal = name.strip().lower() if isinstance(name, str) else name
    if normal not in FORMATS:
        raise ValueError(f"unknown value format {name!r}; use one of {', '.join(FORMATS)}")
    return normal


def parse(text: str, fmt: str) -> Value:
    """Parse one value written in `fmt` (LC-B as hex bytes); HLXError names the offset of the problem."""
    fmt = normalize_format(fmt)
    if fmt == "lc-b":
        return lcb.decode(lcb.from_hex(text))
    return TextParser(TEXT_SYNTAXES[fmt], text).parse_document()


def render(value: Value, fmt: str) -> str:
    """The canonical text of a value in `fmt`; LC-B as upper-case hex bytes separated by single spaces."""
    fmt = normalize_format(fmt)
    if fmt == "lc-b":
        return lcb.to_hex(lcb.encode(value))
    return render_text(value, TEXT_SYNTAXES[fmt])


def detect_format(text: str) -> str:
    """Guess the format of a value's text.

    Spaced hex bytes -> lc-b (a lone pair that reads as an HLXL int, like `12`, stays hlxl); a runic glyph
    outside strings -> lc-r; NULL/TRUE/FALSE, `{C:<digit>`, `@name` or `=` outside strings -> lc-t; else hlxl
    (so the canonical HLXL record `{C: 1}` stays hlxl).
    Texts that are the same in HLXL and LC-T (`123`, `"hi"`, `[1,2]`) come out as hlxl, which parses them.
    """
    if _SPACED_HEX_RE.fullmatch(text) and not _HLXL_INT_RE.fullmatch(text):
        return "lc-b"
    outside_strings = _STRING_RE.sub('""', text)
    if any(char in GLYPHS for char in outside_strings):
        return "lc-r"
    if _LCT_MARKERS_RE.search(outside_strings):
        return "lc-t"
    return "hlxl"


def convert(text: str, to: str, src: str | None = None) -> str:
    """Rewrite a value from `src` (detected when None) into the canonical text of `to`."""
    source = normalize_format(src) if src is not None else detect_format(text)
    return render(parse(text, source), to)
