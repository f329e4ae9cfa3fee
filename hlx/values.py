"""The HLX value model (HLX_SPEC §1): Python types for the ten kinds, strict equality and shared limits."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from hlx.errors import E_FLOAT_SPECIAL, E_SIZE_EXCEEDED, HLXError

MAX_DEPTH = 64
MAX_LCB_BYTES = 1 << 20
IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Value = Union[None, bool, int, float, str, bytes, list["Value"], "Contract", "Handle", "Record"]


def is_identifier(name: object) -> bool:
    """True when `name` is a str matching [A-Za-z_][A-Za-z0-9_]* (handle names and record keys)."""
    return isinstance(name, str) and IDENTIFIER_RE.fullmatch(name) is not None


def _is_plain_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class Contract:
    """A contract value: id >= 0 and fields as (index, value) pairs with strictly ascending indices >= 0.

    Any iterable of pairs is accepted and stored as a tuple; a malformed contract raises ValueError.
    """

    id: int
    fields: tuple[tuple[int, Value], ...] = ()

    def __post_init__(self) -> None:
        if not _is_plain_int(self.id) or self.id < 0:
            raise ValueError(f"contract id must be an int >= 0, got {self.id!r}")
        fields = tuple((index, value) for index, value in self.fields)
        previous = -1
        for index, _ in fields:
            if not _is_plain_int(index) or index < 0:
                raise ValueError(f"contract {self.id}: field index must be an int >= 0, got {index!r}")
            if index <= previous:
                raise ValueError(
                    f"contract {self.id}: field @{index} follows @{previous}; indices must strictly ascend"
                )
            previous = index
        object.__setattr__(self, "fields", fields)


@dataclass(frozen=True)
class Handle:
    """A reference by name; the name matches [A-Za-z_][A-Za-z0-9_]* (ValueError otherwise)."""

    name: str

    def __post_init__(self) -> None:
        if not is_identifier(self.name):
            raise ValueError(f"handle name {self.name!r} must match [A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Record:
    """A string-keyed object (canon extension): identifier keys, unique, order kept as written.

    Any iterable of (key, value) pairs is accepted and stored as a tuple; a bad or repeated key
    raises ValueError.
    """

    entries: tuple[tuple[str, Value], ...] = ()

    def __post_init__(self) -> None:
        entries = tuple((key, value) for key, value in self.entries)
        seen: set[str] = set()
        for key, _ in entries:
            if not is_identifier(key):
                raise ValueError(f"record key {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
            if key in seen:
                raise ValueError(f"record key {key!r} appears twice; keys must be unique")
            seen.add(key)
        object.__setattr__(self, "entries", entries)


_KIND_BY_TYPE: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "text",
    bytes: "bytes",
    list: "array",
    Contract: "contract",
    Handle: "handle",
    Record: "record",
}


def kind_of(value: object) -> str:
    """The spec's kind of a value: null, bool, int, float, text, bytes, array, contract, handle or record.

    Raises TypeError for Python objects outside the value model (tuples, dicts, bytearray, subclasses...).
    """
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is None:
        raise TypeError(
            f"{type(value).__name__} is not an HLX value; use None, bool, int, float, str, bytes, list, "
            "Contract, Handle or Record"
        )
    return kind


def values_equal(a: object, b: object) -> bool:
    """Type-exact equality: 1 != 1.0 != True, -0.0 != 0.0; record entry order and contract indices count."""
    kind = kind_of(a)
    if kind != kind_of(b):
        return False
    if kind == "float":
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)  # type: ignore[arg-type]
    if kind == "array":
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if kind == "contract":
        return a.id == b.id and _pairs_equal(a.fields, b.fields)  # type: ignore[union-attr]
    if kind == "record":
        return _pairs_equal(a.entries, b.entries)  # type: ignore[union-attr]
    return a == b


def _pairs_equal(xs: tuple[tuple[object, Value], ...], ys: tuple[tuple[object, Value], ...]) -> bool:
    return len(xs) == len(ys) and all(
        kx == ky and values_equal(vx, vy) for (kx, vx), (ky, vy) in zip(xs, ys, strict=True)
    )


def children(value: Value) -> Iterable[Value]:
    """The directly nested values of a container (array elements, contract fields, record values)."""
    if isinstance(value, list):
        return value
    if isinstance(value, Contract):
        return (v for _, v in value.fields)
    if isinstance(value, Record):
        return (v for _, v in value.entries)
    return ()


def nfc(text: str) -> str:
    """Text in Unicode NFC, the only form HLX stores."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def check_float(number: float, offset: int) -> float:
    """Return `number`, or raise E_FLOAT_SPECIAL at `offset` for NaN and ±Infinity."""
    if math.isfinite(number):
        return number
    raise HLXError.make(E_FLOAT_SPECIAL, offset, f"{number!r} is not allowed: HLX floats must be finite")


def float_literal(number: float) -> str:
    """The canonical float literal: Python's shortest repr, which always has a '.' or an exponent."""
    check_float(number, 0)
    return repr(number)


def int_literal(number: int) -> str:
    """The decimal literal of an int; E_SIZE_EXCEEDED when Python's int-to-text digit limit refuses it."""
    try:
        return str(number)
    except ValueError as err:
        raise HLXError.make(
            E_SIZE_EXCEEDED, 0, f"int too large to write in decimal ({err}); keep it in LC-B"
        ) from err
