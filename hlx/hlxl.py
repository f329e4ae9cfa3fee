"""HLXL, the human-readable ASCII value format, and the table-driven text engine that LC-T and LC-R reuse.

The three text formats share one grammar and differ only in their tokens (a TextSyntax):
value = keyword | number | bytes | string | handle | array | record | contract. Parsers accept any whitespace
(space, tab, CR, LF) between tokens; renderers write the canonical spacing baked into the syntax strings.
Offsets in errors are character offsets into the input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import NoReturn

from hlx import errors as codes
from hlx.errors import HLXError
from hlx.values import (
    IDENTIFIER_RE,
    MAX_DEPTH,
    Contract,
    Handle,
    Record,
    Value,
    check_float,
    float_literal,
    int_literal,
    is_identifier,
    kind_of,
    nfc,
)

WHITESPACE = " \t\r\n"
DIGITS = "0123456789"
_WS_RE = re.compile(r"[ \t\r\n]*")
_NUMBER_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BYTES_RE = re.compile(r"0[xX]([0-9A-Fa-f]*)")
_LEADING_ZERO_RE = re.compile(r"-?0[0-9]")
_SPECIAL_FLOAT_RE = re.compile(r"-?(?i:nan|inf|infinity)(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class TextSyntax:
    """The tokens of one text format, written with canonical spacing (spaces are optional when parsing).

    A contract renders as contract_open + id + contract_after_id, then per field (field_lead before the first,
    field_sep before the others) field_prefix + index + field_kv + value, then contract_close.
    """

    name: str
    syntax_error: int
    keywords: tuple[str, str, str]  # null, true, false
    handle_prefix: str
    array: tuple[str, str, str]  # open, separator, close
    record: tuple[str, str, str, str]  # open, key/value, separator, close
    contract_open: str
    contract_after_id: str
    field_lead: str
    field_sep: str
    field_prefix: str
    field_kv: str
    contract_close: str
    ascii_text: bool
    punctuation: str  # characters allowed outside strings besides ASCII letters, digits and whitespace
    reserved_first_key: str = ""  # a first record key that would read as a contract opener is quoted


HLXL = TextSyntax(
    name="HLXL", syntax_error=codes.E_UNEXPECTED_TOKEN, keywords=("null", "true", "false"),
    handle_prefix="&h_",
    array=("[", ", ", "]"), record=("{", ": ", ", ", "}"),
    contract_open="{", contract_after_id=": {", field_lead="", field_sep=", ", field_prefix="@",
    field_kv=": ", contract_close="}}", ascii_text=True, punctuation='"[]{},:@&-+._',
)


@dataclass(frozen=True)
class Span:
    """Where a value (or a contract field / record entry, label set) sits in the text: [start, end)."""

    start: int
    end: int
    depth: int
    value: Value
    label: tuple[str, int | str, int | str] | None = None  # ("field", id, index) or ("entry", key, "")


class TextParser:
    """Recursive-descent parser for one text format.

    After a failed parse, `open_closers` holds the canonical closers of the containers still open
    (innermost last) and `unterminated_string` says whether the input stopped inside a string; the LS
    `complete` operation builds on both. With `spans` set to a list, every parsed value is recorded there.
    """

    def __init__(self, syntax: TextSyntax, text: str, spans: list[Span] | None = None) -> None:
        self.syntax = syntax
        self.text = text
        self.spans = spans
        self.open_closers: list[str] = []
        self.unterminated_string = False
        null, true, false = syntax.keywords
        self._keywords: dict[str, Value] = {null: None, true: True, false: False}

    def parse_document(self) -> Value:
        value, end = self.parse_value(0, 0)
        end = self.skip_ws(end)
        if end < len(self.text):
            self.fail(end, "end of input")
        return value

    def skip_ws(self, pos: int) -> int:
        return _WS_RE.match(self.text, pos).end()  # type: ignore[union-attr]

    def parse_value(self, pos: int, depth: int) -> tuple[Value, int]:
        pos = self.skip_ws(pos)
        value, end = self._value_at(pos, depth)
        if self.spans is not None:
            self.spans.append(Span(pos, end, depth, value))
        return value, end

    def _value_at(self, pos: int, depth: int) -> tuple[Value, int]:
        text, syntax = self.text, self.syntax
        if pos >= len(text):
            self.fail(pos, "a value")
        char = text[pos]
        if char == '"':
            return self.scan_string(pos)
        if text.startswith(syntax.handle_prefix, pos):
            return self._scan_handle(pos)
        if char in self._keywords:
            return self._keywords[char], pos + 1
        special = _SPECIAL_FLOAT_RE.match(text, pos) if char in "-nNiI" else None
        if special is not None:
            message = f"{special.group()} is not allowed: use a finite float"
            raise HLXError.make(codes.E_FLOAT_SPECIAL, pos, message)
        if char in DIGITS or char == "-":
            return self._scan_number_or_bytes(pos)
        if _is_ident_start(char):
            return self._scan_word(pos)
        container = self._container_at(pos)
        if container is None:
            self.fail(pos, "a value")
        if depth >= MAX_DEPTH:
            message = f"nesting deeper than {MAX_DEPTH} levels; flatten it"
            raise HLXError.make(codes.E_DEPTH_EXCEEDED, pos, message)
        return container(pos, depth + 1)

    def scan_string(self, pos: int) -> tuple[str, int]:
        """A JSON string literal starting at the quote at `pos`; returns (NFC text, end)."""
        try:
            raw, end = json.decoder.scanstring(self.text, pos + 1, True)  # type: ignore[attr-defined]
        except json.JSONDecodeError as err:
            if err.msg.startswith("Unterminated string"):
                self.unterminated_string = True
                self.fail(len(self.text), f"a closing quote for the string opened at {pos}")
            if err.msg.startswith("Invalid control character"):
                message = f"raw control character U+{ord(self.text[err.pos]):04X} in a string; escape it"
                raise HLXError.make(codes.E_INVALID_CHAR, err.pos, message) from err
            raise HLXError.make(self.syntax.syntax_error, err.pos, f"{err.msg} in a string literal") from err
        if "\\u" in self.text[pos:end] and any("\ud800" <= c <= "\udfff" for c in raw):
            raise HLXError.make(self.syntax.syntax_error, pos, "string holds a lone surrogate escape")
        return nfc(raw), end

    def _scan_handle(self, pos: int) -> tuple[Handle, int]:
        name_at = pos + len(self.syntax.handle_prefix)
        match = IDENTIFIER_RE.match(self.text, name_at)
        if match is None:
            self.fail(name_at, f"a handle name [A-Za-z_][A-Za-z0-9_]* after {self.syntax.handle_prefix!r}")
        return Handle(match.group()), match.end()

    def _scan_word(self, pos: int) -> tuple[Value, int]:
        word_match = IDENTIFIER_RE.match(self.text, pos)
        word = word_match.group()  # type: ignore[union-attr]  # the caller saw an identifier start
        if word in self._keywords:
            return self._keywords[word], pos + len(word)
        hints = [k for k in self._keywords if k.lower() == word.lower()]
        self.fail(pos, f"a value ({self.syntax.name} writes {hints[0]})" if hints else "a value")

    def _scan_number_or_bytes(self, pos: int) -> tuple[Value, int]:
        bytes_match = _BYTES_RE.match(self.text, pos)
        if bytes_match is not None:
            digits = bytes_match.group(1)
            if len(digits) % 2:
                message = f"bytes literal {bytes_match.group()} has an odd number of hex digits"
                raise HLXError.make(self.syntax.syntax_error, pos, message + "; write two per byte")
            return bytes.fromhex(digits), bytes_match.end()
        literal, is_float, end = self._number_literal(pos)
        if is_float:
            return check_float(float(literal), pos), end
        return self._to_int(literal, pos), end

    def _number_literal(self, pos: int) -> tuple[str, bool, int]:
        match = _NUMBER_RE.match(self.text, pos)
        if match is None:
            self.fail(pos, "a value")
        literal = match.group()
        if _LEADING_ZERO_RE.match(literal):
            raise HLXError.make(self.syntax.syntax_error, pos, f"number {literal} has a leading zero")
        return literal, bool(match.group(1) or match.group(2)), match.end()

    def _to_int(self, literal: str, pos: int) -> int:
        try:
            return int(literal)
        except ValueError as err:
            raise HLXError.make(codes.E_SIZE_EXCEEDED, pos, f"int literal too long to read ({err})") from err

    def _match(self, pos: int, piece: str) -> tuple[int, bool]:
        """Match the non-space characters of `piece` as tokens; returns (position reached, matched)."""
        for char in piece:
            if char == " ":
                continue
            pos = self.skip_ws(pos)
            if not self.text.startswith(char, pos):
                return pos, False
            pos += 1
        return pos, True

    def _expect(self, pos: int, pieces: tuple[str, ...]) -> tuple[int, int]:
        """Match the first of `pieces` that fits; returns (which, end) or fails where the input went wrong."""
        furthest = pos
        for which, piece in enumerate(pieces):
            reached, matched = self._match(pos, piece)
            if matched:
                return which, reached
            furthest = max(furthest, reached)
        self.fail(furthest, " or ".join(repr(piece.strip()) for piece in pieces))

    def _items(self, pos: int, close: str, first: str, later: str, item: Callable[[int], int]) -> int:
        """Parse `item`s until `close`; `first` / `later` precede the first / the following items."""
        self.open_closers.append(close)
        count = 0
        while True:
            which, pos = self._expect(pos, (close, later if count else first))
            if which == 0:
                self.open_closers.pop()
                return pos
            pos = item(pos)
            count += 1

    def _container_at(self, pos: int) -> Callable[[int, int], tuple[Value, int]] | None:
        syntax, char = self.syntax, self.text[pos]
        reached, matched = self._match(pos, syntax.contract_open)
        if matched and syntax.contract_open != syntax.record[0]:
            return self._parse_contract
        if matched:  # HLXL shares "{" with records: a contract id (a number) must follow
            reached = self.skip_ws(reached)
            if reached < len(self.text) and (self.text[reached] in DIGITS or self.text[reached] == "-"):
                return self._parse_contract
        if char == syntax.record[0]:
            return self._parse_record
        return self._parse_array if char == syntax.array[0] else None

    def _parse_array(self, pos: int, depth: int) -> tuple[list[Value], int]:
        open_, sep, close = self.syntax.array
        items: list[Value] = []

        def element(at: int) -> int:
            value, end = self.parse_value(at, depth)
            items.append(value)
            return end

        return items, self._items(pos + len(open_), close, "", sep, element)

    def _parse_record(self, pos: int, depth: int) -> tuple[Record, int]:
        open_, key_value, sep, close = self.syntax.record
        entries: dict[str, Value] = {}

        def entry(at: int) -> int:
            key_at = self.skip_ws(at)
            key, end = self._scan_key(key_at)
            if key in entries:
                message = f"record key {key!r} appears twice; keys must be unique"
                raise HLXError.make(self.syntax.syntax_error, key_at, message)
            _, end = self._expect(end, (key_value,))
            entries[key], end = self.parse_value(end, depth)
            self._label_last(key_at, ("entry", key, ""))
            return end

        end = self._items(pos + len(open_), close, "", sep, entry)
        return Record(tuple(entries.items())), end

    def _scan_key(self, pos: int) -> tuple[str, int]:
        if pos < len(self.text) and self.text[pos] == '"':
            key, end = self.scan_string(pos)
            if not is_identifier(key):
                message = f"record key {key!r} must match [A-Za-z_][A-Za-z0-9_]*"
                raise HLXError.make(self.syntax.syntax_error, pos, message)
            return key, end
        match = IDENTIFIER_RE.match(self.text, pos)
        if match is None:
            self.fail(pos, "a record key")
        return match.group(), match.end()

    def _parse_contract(self, pos: int, depth: int) -> tuple[Contract, int]:
        syntax = self.syntax
        end, _ = self._match(pos, syntax.contract_open)
        contract_id, end = self._scan_index(end, "contract id")
        _, end = self._expect(end, (syntax.contract_after_id,))
        fields: list[tuple[int, Value]] = []

        def field(at: int) -> int:
            index_at = self.skip_ws(at)
            index, end = self._scan_index(index_at, "field index")
            if fields and index <= fields[-1][0]:
                message = f"field @{index} comes after @{fields[-1][0]}; indices must strictly ascend"
                raise HLXError.make(codes.E_FIELD_ORDER, index_at, message)
            _, end = self._expect(end, (syntax.field_kv,))
            value, end = self.parse_value(end, depth)
            fields.append((index, value))
            prefix = syntax.field_prefix.strip()  # a field's span starts at its `@` / `🐁` when it has one
            start = self.text.rfind(prefix, 0, at) if prefix else index_at
            self._label_last(start, ("field", contract_id, index))
            return end

        first = syntax.field_lead + syntax.field_prefix
        later = syntax.field_sep + syntax.field_prefix
        end = self._items(end, syntax.contract_close, first, later, field)
        return Contract(contract_id, tuple(fields)), end

    def _scan_index(self, pos: int, what: str) -> tuple[int, int]:
        """A contract id or field index: an int >= 0, else E_CONTRACT_STRUCTURE."""
        pos = self.skip_ws(pos)
        char = self.text[pos] if pos < len(self.text) else ""
        if char and (char in DIGITS or char == "-"):
            literal, is_float, end = self._number_literal(pos)
            if not is_float and not literal.startswith("-"):
                return self._to_int(literal, pos), end
            found = literal
        elif char and (char == '"' or _is_ident_start(char)):
            found = self._describe(pos)
        else:
            self.fail(pos, f"a {what}")
        raise HLXError.make(codes.E_CONTRACT_STRUCTURE, pos, f"{what} must be an int >= 0, found {found}")

    def _label_last(self, start: int, label: tuple[str, int | str, int | str]) -> None:
        """Widen the span just recorded (a field's or entry's value) to cover its index or key."""
        if self.spans is not None:
            last = self.spans[-1]
            self.spans[-1] = Span(start, last.end, last.depth, last.value, label)

    def _describe(self, pos: int) -> str:
        if pos >= len(self.text):
            return "end of input"
        if self.text[pos] == '"':
            return "a string"
        match = IDENTIFIER_RE.match(self.text, pos) or _NUMBER_RE.match(self.text, pos)
        token = match.group() if match else self.text[pos]
        return repr(token if len(token) <= 24 else token[:24] + "...")

    def fail(self, pos: int, expected: str) -> NoReturn:
        """Raise E_INVALID_CHAR for a character the format never allows, else the format's syntax error."""
        char = self.text[pos] if pos < len(self.text) else " "
        if not (char in WHITESPACE or (char.isascii() and char.isalnum()) or char in self.syntax.punctuation):
            where = f"is not allowed in {self.syntax.name} outside strings"
            raise HLXError.make(codes.E_INVALID_CHAR, pos, f"character {char!r} (U+{ord(char):04X}) {where}")
        message = f"expected {expected}, found {self._describe(pos)}"
        raise HLXError.make(self.syntax.syntax_error, pos, message)


def _is_ident_start(char: str) -> bool:
    return char == "_" or (char.isascii() and char.isalpha())


def render_text(value: Value, syntax: TextSyntax) -> str:
    """Render a value in a text format's canonical form; HLXError for NaN/infinite floats or depth > 64."""
    out: list[str] = []
    _emit(value, syntax, out, 0)
    return "".join(out)


def _emit(value: Value, syntax: TextSyntax, out: list[str], depth: int) -> None:
    kind = kind_of(value)
    if kind == "array":
        open_, sep, close = syntax.array
        _emit_items(syntax, out, depth, (open_, "", sep, close), [("", item) for item in value])  # type: ignore[union-attr]
    elif kind == "record":
        open_, key_value, sep, close = syntax.record
        entries = [
            ((_quote(key, syntax) if i == 0 and key == syntax.reserved_first_key else key) + key_value, item)
            for i, (key, item) in enumerate(value.entries)  # type: ignore[union-attr]
        ]
        _emit_items(syntax, out, depth, (open_, "", sep, close), entries)
    elif kind == "contract":
        pieces = (f"{syntax.contract_open}{value.id}{syntax.contract_after_id}",  # type: ignore[union-attr]
                  syntax.field_lead, syntax.field_sep, syntax.contract_close)
        fields = [(f"{syntax.field_prefix}{i}{syntax.field_kv}", item) for i, item in value.fields]  # type: ignore[union-attr]
        _emit_items(syntax, out, depth, pieces, fields)
    elif kind in ("null", "bool"):
        out.append(syntax.keywords[0 if value is None else 1 if value else 2])
    elif kind == "int":
        out.append(int_literal(value))  # type: ignore[arg-type]
    elif kind == "float":
        out.append(float_literal(value))  # type: ignore[arg-type]
    elif kind == "text":
        out.append(_quote(nfc(value), syntax))  # type: ignore[arg-type]
    elif kind == "bytes":
        out.append("0x" + value.hex().upper())  # type: ignore[union-attr]
    else:
        out.append(syntax.handle_prefix + value.name)  # type: ignore[union-attr]


def _emit_items(
    syntax: TextSyntax, out: list[str], depth: int, pieces: tuple[str, ...], items: list[tuple[str, Value]]
) -> None:
    """Write open, then each labelled item (first / sep before it), then close."""
    if depth >= MAX_DEPTH:
        raise HLXError.make(codes.E_DEPTH_EXCEEDED, 0, f"value nests deeper than {MAX_DEPTH} levels")
    open_, first, sep, close = pieces
    out.append(open_)
    for i, (label, item) in enumerate(items):
        out.append(sep if i else first)
        out.append(label)
        _emit(item, syntax, out, depth + 1)
    out.append(close)


def _quote(text: str, syntax: TextSyntax) -> str:
    return encode_basestring_ascii(text) if syntax.ascii_text else encode_basestring(text)


def parse(text: str) -> Value:
    """Parse one HLXL value (whitespace around it allowed); syntax errors are E_UNEXPECTED_TOKEN."""
    return TextParser(HLXL, text).parse_document()


def render(value: Value) -> str:
    """The canonical HLXL text of a value: one space after ',' and ':' in containers, none elsewhere."""
    return render_text(value, HLXL)


def parse_hlxl_prefix(text: str, pos: int) -> tuple[Value, int]:
    """Parse one HLXL value starting at `pos` (leading whitespace skipped); returns (value, end).

    `end` is just past the value; whatever follows is left for the caller (the program parser).
    """
    return TextParser(HLXL, text).parse_value(pos, 0)
