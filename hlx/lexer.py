"""Tokens of HLX programs, both tracks (HLXL ASCII, HLX runic); whitespace and `//` comments are skipped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hlx.errors import E_INVALID_CHAR, E_UNEXPECTED_TOKEN, HLXError

TRACKS: tuple[str, ...] = ("hlxl", "hlx")

WORD_KEYWORDS: tuple[str, ...] = ("program", "block", "let", "return", "break", "while", "if", "else")
LS_KEYWORDS: tuple[str, ...] = ("ls.collapse", "ls.resolve", "ls.snapshot", "ls.transaction")
VALUE_WORDS: tuple[str, ...] = ("true", "false", "null")

# HLX_SPEC §3: the HLXL spelling of every token the runic track swaps, and its glyph.
RUNIC_OF: dict[str, str] = {
    "program": "⟠", "block": "◇", "let": "⊢", "return": "↩", "break": "⌿", "while": "⟳", "if": "❓",
    "else": "❗", "ls.collapse": "⚳", "ls.resolve": "⚯", "ls.snapshot": "⚶", "ls.transaction": "⚿",
    "|>": "▷",
}
ASCII_OF: dict[str, str] = {glyph: word for word, glyph in RUNIC_OF.items()}
HANDLE_PREFIX: dict[str, str] = {"hlxl": "&h_", "hlx": "⟁"}
# Glyphs that stand for a word: like the words they replace, they may not touch a name or another word glyph,
# otherwise `⊢x` would transliterate to `letx` and the bijection would break.
WORD_GLYPHS: frozenset[str] = frozenset(RUNIC_OF[word] for word in WORD_KEYWORDS + LS_KEYWORDS)
LCR_GLYPHS: frozenset[str] = frozenset("🐊🐁🐂🐃🐄◆∅⊤⊥")

OPERATORS: tuple[str, ...] = (
    "&&", "||", "==", "!=", "<=", ">=",
    "<", ">", "=", "!", "+", "-", "*", "/", "%", "(", ")", "{", "}", "[", "]", ",", ";", ":", "@",
)
WHITESPACE = " \t\r\n"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BYTES = re.compile(r"0[xX][0-9A-Fa-f]*")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_JSON_ESCAPES = frozenset('"\\/bfnrtu')


@dataclass(frozen=True)
class Token:
    """One token. `value` is the HLXL spelling for keywords and operators (so `⊢` has value `let`), the name
    for identifiers and handles, and the source text for literals; `offset`/`end` delimit it in the source."""

    kind: str  # "keyword" | "ident" | "number" | "bytes" | "string" | "handle" | "op" | "eof"
    value: str
    offset: int
    end: int


def check_track(track: str) -> str:
    """Return `track` if it names a program track; raise ValueError naming the allowed ones otherwise."""
    if track not in TRACKS:
        raise ValueError(f"unknown program track {track!r}; use one of {', '.join(TRACKS)}")
    return track


def is_word_char(char: str) -> bool:
    """True for the characters a name or number is made of."""
    return char.isascii() and (char.isalnum() or char == "_")


def describe(token: Token, source: str) -> str:
    """The token as an error message names it: `keyword 'let'`, `identifier 'x'`, `'|>'`, `end of input`."""
    if token.kind == "eof":
        return "end of input"
    text = source[token.offset:token.end]
    shown = text if len(text) <= 24 else text[:21] + "..."
    if token.kind in ("op", "number", "bytes", "string"):
        return repr(shown)
    label = {"keyword": "keyword", "ident": "identifier", "handle": "handle"}[token.kind]
    return f"{label} {shown!r}"


def skip_trivia(text: str, pos: int) -> int:
    """Position of the first character at or after `pos` that is neither whitespace nor inside a comment."""
    length = len(text)
    while pos < length:
        if text[pos] in WHITESPACE:
            pos += 1
        elif text.startswith("//", pos):
            newline = text.find("\n", pos)
            pos = length if newline < 0 else newline + 1
        else:
            break
    return pos


def tokenize(text: str, track: str = "hlxl") -> Iterator[Token]:
    """Every token of `text` in order, ending with the `eof` token; raises HLXError at the first bad one."""
    check_track(track)
    pos = 0
    while True:
        token = next_token(text, skip_trivia(text, pos), track)
        yield token
        if token.kind == "eof":
            return
        pos = token.end


def next_token(text: str, pos: int, track: str) -> Token:
    """The token starting exactly at `pos` (call skip_trivia first)."""
    if pos >= len(text):
        return Token("eof", "", len(text), len(text))
    char = text[pos]
    if char == '"':
        end = _string_end(text, pos)
        return Token("string", text[pos:end], pos, end)
    if char.isascii() and char.isdigit():
        return _number(text, pos)
    if char.isascii() and (char.isalpha() or char == "_"):
        return _word(text, pos, track)
    if char == "&":
        return _ampersand(text, pos, track)
    if char == "|":
        return _bar(text, pos, track)
    for op in OPERATORS:
        if text.startswith(op, pos):
            return Token("op", op, pos, pos + len(op))
    return _glyph(text, pos, track)


def _string_end(text: str, start: int) -> int:
    """End (exclusive) of the JSON-style string literal that opens at `start`."""
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return pos + 1
        if char == "\\":
            escape = text[pos + 1:pos + 2]
            if not escape or escape not in _JSON_ESCAPES:
                raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"bad escape {text[pos:pos + 2]!r} in string "
                                    "literal; use a JSON escape such as \\n, \\\" or \\u00e9")
            if escape == "u" and not _HEX4.fullmatch(text, pos + 2, pos + 6):
                raise HLXError.make(E_UNEXPECTED_TOKEN, pos, "\\u in a string literal needs 4 hex digits")
            pos += 6 if escape == "u" else 2
        elif ord(char) < 0x20:
            raise HLXError.make(E_INVALID_CHAR, pos, f"raw control character U+{ord(char):04X} in a string "
                                "literal; write it as a JSON escape such as \\n")
        else:
            pos += 1
    raise HLXError.make(E_UNEXPECTED_TOKEN, len(text),
                        f"unexpected end of input inside the string literal opened at {start}; "
                        "close it with a double quote")


def _number(text: str, pos: int) -> Token:
    match = _BYTES.match(text, pos)
    kind = "bytes" if match else "number"
    match = match or _NUMBER.match(text, pos)
    end = match.end()
    if end < len(text) and text[end] == ".":
        raise HLXError.make(E_UNEXPECTED_TOKEN, end, f"malformed number {text[pos:end + 1]!r}; a float "
                            "literal needs digits after '.' (write 1.0, not 1.)")
    if end < len(text) and is_word_char(text[end]):
        raise HLXError.make(E_UNEXPECTED_TOKEN, end, f"{text[pos:end + 1]!r} runs a {kind} literal into "
                            f"{text[end]!r}; separate them with a space")
    return Token(kind, match.group(), pos, end)


def _word(text: str, pos: int, track: str) -> Token:
    word = _NAME.match(text, pos).group()
    end = pos + len(word)
    if word == "ls" and text.startswith(".", end):
        operation = _NAME.match(text, end + 1)
        spelled = "ls." + (operation.group() if operation else "")
        if spelled not in LS_KEYWORDS:
            raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"unknown LS operation {spelled!r}; use one of "
                                f"{', '.join(LS_KEYWORDS)}")
        word, end = spelled, end + 1 + len(operation.group())
    elif word not in WORD_KEYWORDS:
        return Token("ident", word, pos, end)
    if track == "hlx":
        raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"HLXL keyword {word!r} in an HLX program; the runic "
                            f"track writes {RUNIC_OF[word]!r}")
    return Token("keyword", word, pos, end)


def _handle(text: str, pos: int, prefix: str) -> Token:
    name = _NAME.match(text, pos + len(prefix))
    if name is None:
        raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"{prefix!r} must be followed by a handle name "
                            "matching [A-Za-z_][A-Za-z0-9_]*")
    return Token("handle", name.group(), pos, name.end())


def _ampersand(text: str, pos: int, track: str) -> Token:
    if text.startswith("&&", pos):
        return Token("op", "&&", pos, pos + 2)
    if text.startswith("&h_", pos):
        if track == "hlx":
            raise HLXError.make(E_UNEXPECTED_TOKEN, pos, "HLXL handle prefix '&h_' in an HLX program; "
                                "the runic track writes a handle as '⟁name'")
        return _handle(text, pos, "&h_")
    expected = "'&&'" if track == "hlx" else "'&&' or a handle '&h_name'"
    raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"unexpected '&'; expected {expected}")


def _bar(text: str, pos: int, track: str) -> Token:
    if text.startswith("||", pos):
        return Token("op", "||", pos, pos + 2)
    if text.startswith("|>", pos):
        if track == "hlx":
            raise HLXError.make(E_UNEXPECTED_TOKEN, pos, "HLXL pipe '|>' in an HLX program; the runic "
                                "track writes '▷'")
        return Token("op", "|>", pos, pos + 2)
    expected = "'||'" if track == "hlx" else "'||' or '|>'"
    raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"unexpected '|'; expected {expected}")


def _glyph(text: str, pos: int, track: str) -> Token:
    char = text[pos]
    if char in ASCII_OF or char == "⟁":
        spelled = "&h_" if char == "⟁" else ASCII_OF[char]
        if track == "hlxl":
            raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"runic glyph {char!r} in an HLXL program; the "
                                f"ASCII track writes {spelled!r}")
        if char == "⟁":
            return _handle(text, pos, "⟁")
        if char in WORD_GLYPHS:
            _check_glyph_neighbours(text, pos)
        return Token("op" if spelled == "|>" else "keyword", spelled, pos, pos + 1)
    if char in LCR_GLYPHS:
        raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"LC-R glyph {char!r} cannot appear in a program; "
                            "values inside programs are written in HLXL syntax")
    if char == ".":
        raise HLXError.make(E_UNEXPECTED_TOKEN, pos, "unexpected '.'; '.' only appears inside a float "
                            "literal or an LS operation such as ls.resolve")
    raise HLXError.make(E_INVALID_CHAR, pos, f"character {char!r} (U+{ord(char):04X}) is not allowed in a "
                        "program outside string literals and comments")


def _check_glyph_neighbours(text: str, pos: int) -> None:
    for neighbour in (pos - 1, pos + 1):
        if 0 <= neighbour < len(text) and (is_word_char(text[neighbour]) or text[neighbour] in WORD_GLYPHS):
            raise HLXError.make(E_UNEXPECTED_TOKEN, pos, f"keyword glyph {text[pos]!r} touches "
                                f"{text[neighbour]!r}; separate them with a space, as HLXL separates "
                                f"{ASCII_OF[text[pos]]!r} from its neighbours")


@dataclass(frozen=True)
class Respelled:
    """A source rewritten into the other track's spelling, with offset maps both ways.

    `text` covers the source up to its first lexical error (`error`, None when the whole source lexes);
    `source_offsets[i]` is the source offset of text position i (one entry past the end too), and
    `text_offsets[j]` the text offset of source position j, for j up to where `text` stops.
    """

    text: str
    source_offsets: tuple[int, ...]
    text_offsets: tuple[int, ...]
    error: HLXError | None


def respell(code: str, track: str) -> Respelled:
    """Rewrite `code` (a `track` program) token by token into the other track; strings and comments are
    copied untouched. Only keywords, the pipe and handle prefixes change spelling."""
    target = "hlx" if check_track(track) == "hlxl" else "hlxl"
    pieces: list[str] = []
    source_offsets: list[int] = []
    text_offsets: list[int] = []
    copied_to = 0
    error: HLXError | None = None
    try:
        for token in tokenize(code, track):
            if token.kind == "eof":
                break
            spelled = _spelling(token, target)
            if spelled is None:
                continue
            _copy(code, copied_to, token.offset, pieces, source_offsets, text_offsets)
            base = len(source_offsets)
            pieces.append(spelled)
            source_offsets.extend([token.offset] * len(spelled))
            text_offsets.extend([base] * (token.end - token.offset))
            copied_to = token.end
        stop = len(code)
    except HLXError as err:
        error, stop = err, err.offset
    _copy(code, copied_to, max(stop, copied_to), pieces, source_offsets, text_offsets)
    source_offsets.append(max(stop, copied_to))
    text_offsets.append(len(source_offsets) - 1)
    return Respelled("".join(pieces), tuple(source_offsets), tuple(text_offsets), error)


def _spelling(token: Token, target: str) -> str | None:
    """The token in the target track's spelling, or None when both tracks spell it alike."""
    if token.kind == "handle":
        return HANDLE_PREFIX[target] + token.value
    if token.kind == "keyword" or (token.kind == "op" and token.value == "|>"):
        return RUNIC_OF[token.value] if target == "hlx" else token.value
    return None


def _copy(code: str, start: int, end: int, pieces: list[str], source_offsets: list[int],
          text_offsets: list[int]) -> None:
    base = len(source_offsets)
    pieces.append(code[start:end])
    source_offsets.extend(range(start, end))
    text_offsets.extend(range(base, base + end - start))
