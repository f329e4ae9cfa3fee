"""A short completion of a half-written answer under its grammar, so a token budget never cuts an answer off.

Text formats (HLXL, LC-T, LC-R) close greedily, character by character: a closing quote or bracket when the
grammar allows one, else the smallest piece that moves towards one (`:`, `0`, `_`...). No piece in the order
starts a new item (`,` is absent), so each open container is closed after at most a few pieces. LC-B closes by
walking the bytes written so far and appending the one byte the structure needs next (a null value, a
payload byte, an end tag), until the value is whole. Either way, the grammar matcher checks the result.
"""

from __future__ import annotations

import xgrammar as xgr

from hlx import lcb
from hlx.grammar import dead_end

# Closers first; then the pieces that finish a token or a contract/record header; letters finish keywords
# (null, TRUE...), handle prefixes (&h_) and the low half of a \u surrogate pair. Last, what an item that a
# comma has just opened needs before anything can close: HLXL's field marker `@`, and a field index other
# than 0 when 0 is taken (without them, no answer could be closed after its first comma, so the budget
# guard closed every object and list at its first item).
TEXT_CLOSING_ORDER: tuple[bytes, ...] = tuple(
    piece.encode() for piece in ('"', "]", "}", "🐄", "🐂", "◆", ":", "=", " ", "{", "0", "_",
                                 *"lusearLUSEARhd", "\\", "@", *"123456789")
) + tuple(bytes([byte]) for byte in range(0x80, 0xC0))  # the rest of a multi-byte character
MAX_CLOSING_PIECES = 1024
IDENT_FILLER = 0x5F  # `_`, the shortest identifier character
HEX_DIGITS = "0123456789ABCDEF"


def text_closing(matcher: xgr.GrammarMatcher, written: bytes, fmt: str) -> bytes | None:
    """Bytes that complete the text-format answer `written` (accepted by `matcher`), or None if the greedy
    order gets stuck. A piece that would finish a repeated field index or record key is passed over, so
    `{a:1,a` closes as `{a:1,a0:""}` rather than `{a:1,a:""}`."""
    probe = matcher.fork()
    out = bytearray()
    for _ in range(MAX_CLOSING_PIECES):
        if probe.is_completed():
            return bytes(out)
        for piece in TEXT_CLOSING_ORDER:
            trial = probe.fork()
            text = (written + out + piece).decode("utf-8", errors="ignore")
            if trial.accept_string(piece) and not dead_end(text, fmt):
                probe = trial
                out += piece
                break
        else:
            return None
    return None


def lcb_closing(matcher: xgr.GrammarMatcher, written: str) -> bytes | None:
    """Bytes that complete the LC-B hex answer `written` so far (accepted by `matcher`), or None."""
    options = [written] if not written or written[-1] == " " or _last_group_full(written) else [
        written + digit for digit in HEX_DIGITS
    ]
    best: bytes | None = None
    for start in options:
        suffix = (start[len(written):] + _closing_hex(start)).encode()
        probe = matcher.fork()
        if probe.accept_string(suffix) and probe.is_completed() and (best is None or len(suffix) < len(best)):
            best = suffix
    return best


def _last_group_full(written: str) -> bool:
    return len(written.rsplit(" ", 1)[-1]) == 2


def _closing_hex(written: str) -> str:
    """The spaced hex bytes that finish `written` (whole bytes, perhaps ending with a space)."""
    data = bytearray(bytes.fromhex(written.replace(" ", "")))
    start = len(data)
    while (needed := _next_byte(bytes(data))) is not None:
        data.append(needed)
        if len(data) - start > MAX_CLOSING_PIECES:
            raise RuntimeError(f"LC-B closing of {written!r} does not end")
    added = " ".join(f"{byte:02X}" for byte in data[start:])
    if not added:
        return ""
    return added if not written or written.endswith(" ") else " " + added


class _Need(Exception):
    """The input ends where the value needs `byte` next."""

    def __init__(self, byte: int) -> None:
        super().__init__(byte)
        self.byte = byte


def _next_byte(data: bytes) -> int | None:
    """The byte a complete LC-B value starting at 0 needs next, or None when `data` already is one."""
    try:
        _LcbWalker(data).value(0)
    except _Need as need:
        return need.byte
    return None


class _LcbWalker:
    """Reads a (possibly unfinished) LC-B value the grammar accepted; raises _Need where the input ends."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def byte_at(self, pos: int, needed: int) -> int:
        if pos >= len(self.data):
            raise _Need(needed)
        return self.data[pos]

    def value(self, pos: int) -> int:
        tag = self.byte_at(pos, lcb.NULL)
        pos += 1
        if tag == lcb.INT:
            return self.leb(pos)[1]
        if tag == lcb.FLOAT:
            for offset in range(8):
                self.byte_at(pos + offset, 0x00)
            return pos + 8
        if tag in (lcb.TEXT, lcb.BYTES, lcb.HANDLE):
            length, pos = self.leb(pos)
            return self.payload(pos, length, tag)
        if tag == lcb.ARRAY_START:
            while self.byte_at(pos, lcb.ARRAY_END) != lcb.ARRAY_END:
                pos = self.value(pos)
            return pos + 1
        if tag == lcb.CONTRACT_START:
            pos = self.leb(pos)[1]
            while self.byte_at(pos, lcb.CONTRACT_END) != lcb.CONTRACT_END:
                pos = self.value(self.leb(pos)[1])
            return pos + 1
        if tag == lcb.RECORD_START:
            while self.byte_at(pos, lcb.RECORD_END) != lcb.RECORD_END:
                length, pos = self.leb(pos)
                pos = self.value(self.payload(pos, length, lcb.HANDLE))
            return pos + 1
        return pos  # null, true, false

    def leb(self, pos: int) -> tuple[int, int]:
        number, shift = 0, 0
        while True:
            byte = self.byte_at(pos, 0x00)
            number |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if not byte & 0x80:
                return number, pos

    def payload(self, pos: int, length: int, tag: int) -> int:
        """Skip `length` payload bytes; a text's filler finishes the UTF-8 character in progress first."""
        pending = 0  # continuation bytes the current UTF-8 character still needs
        for offset in range(length):
            if tag == lcb.TEXT:
                filler = _continuation(self.data[pos + offset - 1]) if pending else 0x00
            else:
                filler = IDENT_FILLER if tag == lcb.HANDLE else 0x00
            byte = self.byte_at(pos + offset, filler)
            pending = pending - 1 if pending else _utf8_continuations(byte)
        return pos + length


def _utf8_continuations(lead: int) -> int:
    return 3 if lead >= 0xF0 else 2 if lead >= 0xE0 else 1 if lead >= 0xC0 else 0


def _continuation(previous: int) -> int:
    """The smallest byte well-formed UTF-8 allows after `previous` inside a character."""
    return {0xE0: 0xA0, 0xF0: 0x90}.get(previous, 0x80)
