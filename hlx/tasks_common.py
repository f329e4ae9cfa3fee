"""Shared pieces of the corpus task makers: seeded small values and programs, drafts, names and tracks."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from hlx.ls import CONTRACTS
from hlx.values import Contract, Handle, Record, Value

VALUE_SHAPES: tuple[str, ...] = ("scalar", "text", "bytes", "handle", "array", "contract", "record")
PROGRAM_SHAPES: tuple[str, ...] = ("let", "return", "if", "while", "pipe", "ls")

FORMAT_LABELS: dict[str, str] = {
    "hlxl": "HLXL", "lc-t": "LC-T", "lc-r": "LC-R", "lc-b": "LC-B",
    "hlxl-program": "HLXL program", "hlx-program": "HLX program",
}
PROGRAM_TRACKS: dict[str, str] = {"hlxl-program": "hlxl", "hlx-program": "hlx"}
# Which expert speaks each format (HLX_SPEC §7); a record's track follows the format it asks for.
FORMAT_TRACKS: dict[str, str] = {
    "hlxl": "ascii", "lc-t": "ascii", "hlxl-program": "ascii",
    "lc-r": "runic", "hlx-program": "runic", "lc-b": "general",
}
LS_NAMES: dict[str, str] = {"ascii": "HLXL-LS", "runic": "HLX-LS"}

WORDS: tuple[str, ...] = (
    "docs", "main", "alice", "bob", "data", "tag", "item", "note", "blue", "red", "key", "node",
    "cache", "user", "shader", "path", "west", "gold", "ok", "idle",
)
SHORT_NAMES: tuple[str, ...] = ("a", "b", "n", "x", "y", "id", "age", "name", "size", "mode", "kind", "seq")
TEXT_EXTRAS: tuple[str, ...] = ("héllo", "日本", "a\"b", "line\nnext", "tab\there", "ok!", "π=3", "")
CONTRACT_IDS: tuple[int, ...] = tuple(CONTRACTS)
# The wide value space adds these words, three-word texts and two-digit name suffixes (see wider_values).
MORE_WORDS: tuple[str, ...] = (
    "apple", "batch", "cloud", "delta", "echo", "field", "green", "house", "index", "joint", "kite", "lemon",
    "model", "north", "ocean", "pixel", "query", "river", "stone", "table", "unit", "value", "water", "yield",
    "zone", "amber", "brick", "coral", "drift", "ember", "frost", "grain", "haze", "ivory", "jade", "knot",
    "lunar", "maple", "nova", "orbit", "pearl", "quartz", "rust", "sand", "tide", "umber", "vivid", "wind",
    "xenon", "young",
)
WIDE_WORDS: tuple[str, ...] = WORDS + MORE_WORDS
_wide_values: ContextVar[bool] = ContextVar("wide_values", default=False)


class Redraw(Exception):
    """Raised by a task maker when its random draw does not suit the task; the generator draws again."""


@dataclass(frozen=True)
class Draft:
    """A candidate example before ids are assigned: the toolkit computed its response."""

    instruction: str
    response: str
    task: str
    format: str
    shape: str
    track: str


Maker = Callable[[random.Random, str], Draft]


@dataclass(frozen=True)
class Family:
    """One task family of a corpus: slots of (shape, makers) taken in turn, one maker drawn per slot."""

    task: str
    slots: tuple[tuple[str, tuple[Maker, ...]], ...]


def family(task: str, *lanes: tuple[tuple[str, ...], tuple[Maker, ...]]) -> Family:
    """A family whose lanes each pair some shapes with the makers that accept them."""
    return Family(task, tuple((shape, makers) for shapes, makers in lanes for shape in shapes))


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus: its name, the track forced on every record (None: each record's own), its families."""

    name: str
    track: str | None
    families: tuple[Family, ...]


@contextmanager
def wider_values(wide: bool = True) -> Iterator[None]:
    """Inside this block (when `wide`) the makers draw words, texts and handle names from the wide space.

    The small space keeps the shipped corpora easy for a tiny model; the generator widens a slot only once
    its small space is used up, so a big --size still finds fresh examples."""
    token = _wide_values.set(wide)
    try:
        yield
    finally:
        _wide_values.reset(token)


def word(rng: random.Random) -> str:
    return rng.choice(WIDE_WORDS if _wide_values.get() else WORDS)


def small_int(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(0, 99)
    if roll < 0.85:
        return -rng.randint(1, 99)
    return rng.randint(100, 9999)


def small_float(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.05:
        return -0.0
    if roll < 0.15:
        return float(rng.randint(-9, 9))
    return rng.randint(-999, 999) / rng.choice((2, 4, 10, 100))


def small_text(rng: random.Random) -> str:
    roll = rng.random()
    if _wide_values.get() and roll < 0.5:
        return " ".join(word(rng) for _ in range(3))
    if roll < 0.6:
        return word(rng)
    if roll < 0.8:
        return f"{word(rng)} {word(rng)}"
    return rng.choice(TEXT_EXTRAS)


def small_bytes(rng: random.Random) -> bytes:
    return bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 4)))


def handle_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return word(rng)
    if roll < 0.75:
        return f"{word(rng)}_{word(rng)}"
    return f"{word(rng)}{rng.randint(0, 99 if _wide_values.get() else 9)}"


def handle(rng: random.Random) -> Handle:
    return Handle(handle_name(rng))


def scalar(rng: random.Random) -> Value:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.25:
        return rng.random() < 0.5
    if roll < 0.7:
        return small_int(rng)
    return small_float(rng)


def leaf(rng: random.Random) -> Value:
    """A non-container value of any kind, for the inside of arrays, records and contracts."""
    maker = rng.choice((scalar, scalar, scalar, small_text, small_text, small_bytes, handle))
    return maker(rng)


def _member(rng: random.Random, depth: int) -> Value:
    # depth counts containers already open; the corpora stay at depth <= 2 so a tiny model can learn them.
    if depth < 2 and rng.random() < 0.2:
        return rng.choice((small_array, small_contract, small_record))(rng, depth + 1)
    return leaf(rng)


def small_array(rng: random.Random, depth: int = 1) -> list[Value]:
    count = rng.choice((0, 1, 1, 2, 2, 3, 3, 4))
    return [_member(rng, depth) for _ in range(count)]


def _known_contract_fields(rng: random.Random, contract_id: int) -> list[Value]:
    if contract_id == 14:
        return [small_int(rng)]
    if contract_id == 16:
        return [small_text(rng)]
    if contract_id == 800:
        return [rng.randint(0, 99), word(rng), small_bytes(rng)]
    if contract_id == 820:
        return [rng.randint(0, 3), word(rng), handle(rng), small_int(rng)]
    if contract_id == 900:
        return [handle(rng), "main", rng.choice(("vertex", "fragment", "compute"))]
    if contract_id == 901:
        return [handle(rng), handle(rng)]
    if contract_id == 902:
        return [handle(rng), rng.randint(1, 64), rng.randint(1, 8), 1]
    return [rng.choice(("add", "get", "put", "len")), *(leaf(rng) for _ in range(rng.randint(0, 2)))]


def known_contract(rng: random.Random, contract_id: int) -> Contract:
    """A contract of a HLX_SPEC §4 id with fields of fitting kinds."""
    return Contract(contract_id, tuple(enumerate(_known_contract_fields(rng, contract_id))))


def small_contract(rng: random.Random, depth: int = 1) -> Contract:
    if rng.random() < 0.6:
        return known_contract(rng, rng.choice(CONTRACT_IDS))
    contract_id = rng.randint(0, 99)
    indices = sorted(rng.sample(range(5), rng.randint(0, 3)))
    return Contract(contract_id, tuple((index, _member(rng, depth)) for index in indices))


def small_record(rng: random.Random, depth: int = 1) -> Record:
    keys = rng.sample(SHORT_NAMES, rng.randint(1, 3))
    return Record(tuple((key, _member(rng, depth)) for key in keys))


def value_of_shape(rng: random.Random, shape: str) -> Value:
    """A small value whose top-level kind is the named shape (see VALUE_SHAPES)."""
    makers = {
        "scalar": scalar, "text": small_text, "bytes": small_bytes, "handle": handle,
        "array": small_array, "contract": small_contract, "record": small_record,
    }
    return makers[shape](rng)


def collect_handles(value: Value) -> list[str]:
    """Handle names in a value, first occurrence order."""
    found: list[str] = []
    stack: list[Value] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Handle):
            if item.name not in found:
                found.append(item.name)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, Contract):
            stack.extend(reversed([field for _, field in item.fields]))
        elif isinstance(item, Record):
            stack.extend(reversed([entry for _, entry in item.entries]))
    return found
