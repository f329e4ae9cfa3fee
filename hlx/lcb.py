"""LC-B, the binary value format (HLX_SPEC §2): encode, decode and the spaced upper-case hex used in text.

Canon decisions beyond the spec's tag table:
- a field index where a contract may end is read as the end tag when it is the byte 0x08, so field index 8 is
  written as the two-byte LEB128 `88 00`; likewise a record key of length 13 (0x0D, the record end) is
  written `8D 00`. Every other LEB128 is minimal. Decoding accepts any well-formed LEB128.
- errors: an unknown tag, a stray end tag, bad UTF-8, a bad handle name or record key, a truncated payload
  or trailing bytes are E_LC_PARSE. A truncated input is reported at its end (the byte that is missing).
"""

from __future__ import annotations

import struct

from hlx import errors as codes
from hlx.errors import HLXError
from hlx.values import (
    MAX_DEPTH,
    MAX_LCB_BYTES,
    Contract,
    Handle,
    Record,
    Value,
    check_float,
    is_identifier,
    nfc,
)

NULL, INT, FLOAT, TEXT, BYTES = 0x00, 0x01, 0x02, 0x03, 0x04
ARRAY_START, ARRAY_END, CONTRACT_START, CONTRACT_END, HANDLE = 0x05, 0x06, 0x07, 0x08, 0x09
TRUE, FALSE, RECORD_START, RECORD_END = 0x0A, 0x0B, 0x0C, 0x0D
_END_NAMES = {ARRAY_END: "array end", CONTRACT_END: "contract end", RECORD_END: "record end"}


def leb128(number: int, signed: bool, min_groups: int = 1) -> bytes:
    """LEB128 of an int in at least `min_groups` 7-bit groups (signed: two's complement)."""
    magnitude = (~number if number < 0 else number).bit_length() + (1 if signed else 0)
    groups = max(min_groups, -(-magnitude // 7))
    bits = format(number & ((1 << 7 * groups) - 1), f"0{7 * groups}b")  # linear even for huge ints
    size = len(bits)
    return bytes(
        int(bits[size - 7 * (g + 1):size - 7 * g], 2) | (0x80 if g < groups - 1 else 0) for g in range(groups)
    )


def encode(value: Value) -> bytes:
    """The canonical LC-B bytes of a value (deterministic); HLXError for NaN/inf, depth > 64 or > 1 MiB."""
    out = bytearray()
    _encode(value, out, 0)
    if len(out) > MAX_LCB_BYTES:
        message = f"LC-B encoding is {len(out)} bytes, over the {MAX_LCB_BYTES}-byte limit; split the value"
        raise HLXError.make(codes.E_SIZE_EXCEEDED, MAX_LCB_BYTES, message)
    return bytes(out)


def _encode(value: Value, out: bytearray, depth: int) -> None:
    if value is None or isinstance(value, bool):
        out.append(NULL if value is None else TRUE if value else FALSE)
    elif isinstance(value, int):
        out.append(INT)
        out += leb128(value, signed=True)
    elif isinstance(value, float):
        out.append(FLOAT)
        out += struct.pack(">d", check_float(value, len(out) - 1))
    elif isinstance(value, str | bytes | Handle):
        tag, payload = (
            (TEXT, nfc(value).encode()) if isinstance(value, str)
            else (BYTES, value) if isinstance(value, bytes)
            else (HANDLE, value.name.encode("ascii"))
        )
        out.append(tag)
        out += leb128(len(payload), signed=False)
        out += payload
    elif isinstance(value, list | Contract | Record):
        _encode_container(value, out, depth + 1)
    else:
        raise TypeError(f"{type(value).__name__} is not an HLX value; see hlx.values.Value")


def _encode_container(value: list[Value] | Contract | Record, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise HLXError.make(codes.E_DEPTH_EXCEEDED, len(out), f"value nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        out.append(ARRAY_START)
        for item in value:
            _encode(item, out, depth)
        out.append(ARRAY_END)
    elif isinstance(value, Contract):
        out.append(CONTRACT_START)
        out += leb128(value.id, signed=False)
        for index, item in value.fields:
            out += leb128(index, signed=False, min_groups=2 if index == CONTRACT_END else 1)
            _encode(item, out, depth)
        out.append(CONTRACT_END)
    else:
        out.append(RECORD_START)
        for key, item in value.entries:
            raw_key = key.encode()
            out += leb128(len(raw_key), signed=False, min_groups=2 if len(raw_key) == RECORD_END else 1)
            out += raw_key
            _encode(item, out, depth)
        out.append(RECORD_END)


class Decoder:
    """Reads one LC-B value; after a failure `open_ends` holds the end tags still owed (innermost last)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.open_ends: list[int] = []

    def decode_document(self) -> Value:
        if len(self.data) > MAX_LCB_BYTES:
            message = f"LC-B input is {len(self.data)} bytes, over the {MAX_LCB_BYTES}-byte limit"
            raise HLXError.make(codes.E_SIZE_EXCEEDED, MAX_LCB_BYTES, message)
        value = self.value(0)
        if self.pos < len(self.data):
            self.fail(self.pos, f"{len(self.data) - self.pos} trailing byte(s) after the value; remove them")
        return value

    def fail(self, offset: int, message: str) -> None:
        raise HLXError.make(codes.E_LC_PARSE, offset, message)

    def take(self, count: int, what: str) -> bytes:
        if self.pos + count > len(self.data):
            self.fail(len(self.data), f"input ends early: {what} needs {count} byte(s) at {self.pos}")
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def leb(self, signed: bool, what: str) -> int:
        start, data = self.pos, self.data
        end = start
        while end < len(data) and data[end] & 0x80:
            end += 1
        group = self.take(end - start + 1, what)
        number = int("".join(format(byte & 0x7F, "07b") for byte in reversed(group)), 2)
        if signed and group[-1] & 0x40:
            number -= 1 << (7 * len(group))
        return number

    def value(self, depth: int) -> Value:
        start = self.pos
        tag = self.take(1, "a value tag")[0]
        if tag in (NULL, TRUE, FALSE):
            return None if tag == NULL else tag == TRUE
        if tag == INT:
            return self.leb(True, "an int")
        if tag == FLOAT:
            return check_float(struct.unpack(">d", self.take(8, "a float"))[0], start)
        if tag in (TEXT, BYTES, HANDLE):
            return self._sized(tag, start)
        if tag in (ARRAY_START, CONTRACT_START, RECORD_START):
            if depth >= MAX_DEPTH:
                message = f"nesting deeper than {MAX_DEPTH} levels; flatten the value"
                raise HLXError.make(codes.E_DEPTH_EXCEEDED, start, message)
            return self._container(tag, depth + 1)
        if tag in _END_NAMES:
            self.fail(start, f"{_END_NAMES[tag]} tag 0x{tag:02X} where a value was expected")
        self.fail(start, f"unknown tag 0x{tag:02X}; tags are 0x00 to 0x0D")
        raise AssertionError("unreachable")

    def _sized(self, tag: int, start: int) -> Value:
        what = {TEXT: "a text", BYTES: "a bytes value", HANDLE: "a handle name"}[tag]
        payload = self.take(self.leb(False, what + " length"), what)
        if tag == BYTES:
            return payload
        try:
            text = payload.decode("utf-8" if tag == TEXT else "ascii")
        except UnicodeDecodeError as err:
            message = f"{what} is not valid {err.encoding}: {err.reason}"
            self.fail(self.pos - len(payload) + err.start, message)
        if tag == TEXT:
            return nfc(text)
        if not is_identifier(text):
            self.fail(start, f"handle name {text!r} must match [A-Za-z_][A-Za-z0-9_]*")
        return Handle(text)

    def _container(self, tag: int, depth: int) -> Value:
        end_tag = tag + 1
        self.open_ends.append(end_tag)
        items: list[tuple[object, Value]] = []
        contract_id = self.leb(False, "a contract id") if tag == CONTRACT_START else 0
        while True:
            if self.pos < len(self.data) and self.data[self.pos] == end_tag:
                self.pos += 1
                break
            if self.pos >= len(self.data):
                self.fail(len(self.data), f"input ends before the {_END_NAMES[end_tag]} tag 0x{end_tag:02X}")
            label_at = self.pos
            label = self._label(tag, items, label_at)
            items.append((label, self.value(depth)))
        self.open_ends.pop()
        if tag == ARRAY_START:
            return [item for _, item in items]
        if tag == CONTRACT_START:
            return Contract(contract_id, tuple(items))  # type: ignore[arg-type]
        return Record(tuple(items))  # type: ignore[arg-type]

    def _label(self, tag: int, items: list[tuple[object, Value]], at: int) -> object:
        """The field index or record key before the next item (None inside arrays)."""
        if tag == CONTRACT_START:
            index = self.leb(False, "a field index")
            if items and index <= items[-1][0]:  # type: ignore[operator]
                message = f"field @{index} comes after @{items[-1][0]}; indices must strictly ascend"
                raise HLXError.make(codes.E_FIELD_ORDER, at, message)
            return index
        if tag == RECORD_START:
            raw = self.take(self.leb(False, "a record key length"), "a record key")
            key = raw.decode("utf-8", errors="replace")
            if not is_identifier(key):
                self.fail(at, f"record key {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
            if any(key == seen for seen, _ in items):
                self.fail(at, f"record key {key!r} appears twice; keys must be unique")
            return key
        return None


def decode(data: bytes) -> Value:
    """The value of LC-B bytes; HLXError (E_LC_PARSE, E_FIELD_ORDER, E_SIZE_EXCEEDED...) at a byte offset."""
    return Decoder(bytes(data)).decode_document()


def to_hex(data: bytes) -> str:
    """Upper-case hex bytes separated by single spaces, e.g. `01 FB 00` (empty input gives "")."""
    return data.hex(" ").upper()


def from_hex(text: str) -> bytes:
    """Bytes from hex pairs; whitespace between bytes is optional. Offsets in errors count bytes."""
    out = bytearray()
    for token in text.split():
        for i, char in enumerate(token):
            if char not in "0123456789abcdefABCDEF":
                message = f"{char!r} is not a hex digit; write LC-B as hex bytes like `01 FB 00`"
                raise HLXError.make(codes.E_INVALID_CHAR, len(out) + i // 2, message)
        if len(token) % 2:
            message = f"hex group {token!r} has an odd number of digits; write two digits per byte"
            raise HLXError.make(codes.E_LC_PARSE, len(out) + len(token) // 2, message)
        out += bytes.fromhex(token)
    return bytes(out)
