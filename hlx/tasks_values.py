"""Task makers on values: convert between formats, parse into HLXL, validate (valid and broken inputs)."""

from __future__ import annotations

import random

from hlx import lcb
from hlx.errors import HLXError
from hlx.formats import convert, parse, render
from hlx.tasks_common import FORMAT_LABELS, FORMAT_TRACKS, Draft, small_contract, value_of_shape
from hlx.values import Contract, Value

# Characters that no value format allows outside a string; inserting one makes a deliberately invalid input.
STRAY_CHARACTERS: tuple[str, ...] = ("$", "`", "~", "?", ";", "!")


def make_convert(rng: random.Random, shape: str, sources: tuple[str, ...], targets: tuple[str, ...]) -> Draft:
    """'Convert to <FMT>: <text>' answered with the canonical text in the target format."""
    target = rng.choice(targets)
    source = rng.choice([fmt for fmt in sources if fmt != target])
    text = render(value_of_shape(rng, shape), source)
    return Draft(f"Convert to {FORMAT_LABELS[target]}: {text}", convert(text, target, source),
                 "convert", target, shape, FORMAT_TRACKS[target])


def make_parse(rng: random.Random, shape: str, sources: tuple[str, ...]) -> Draft:
    """'Parse <FMT> into HLXL: <text>' answered with the canonical HLXL of the value."""
    source = rng.choice(sources)
    text = render(value_of_shape(rng, shape), source)
    return Draft(f"Parse {FORMAT_LABELS[source]} into HLXL: {text}", convert(text, "hlxl", source),
                 "parse", "hlxl", shape, FORMAT_TRACKS[source])


def diagnose_value(text: str, fmt: str) -> str:
    """`OK` when the text parses in the format, else the toolkit's error line."""
    try:
        parse(text, fmt)
    except HLXError as err:
        return str(err)
    return "OK"


def _reordered_contract(rng: random.Random, fmt: str) -> str:
    """A contract written with its field indices out of order, which every format rejects (E_FIELD_ORDER)."""
    contract: Contract = small_contract(rng)
    while len(contract.fields) < 2:
        contract = small_contract(rng)
    fields = list(contract.fields)
    fields[0], fields[1] = fields[1], fields[0]
    parts = [(index, render(field, fmt)) for index, field in fields]
    if fmt == "hlxl":
        return f"{{{contract.id}: {{{', '.join(f'@{i}: {v}' for i, v in parts)}}}}}"
    if fmt == "lc-t":
        return f"{{C:{contract.id},{','.join(f'{i}={v}' for i, v in parts)}}}"
    return f"🐊{contract.id}{''.join(f'🐁{i} {v}' for i, v in parts)}🐂"


def broken_text(rng: random.Random, value: Value, fmt: str, shape: str) -> str:
    text = render(value, fmt)
    roll = rng.random()
    if shape == "contract" and roll < 0.3:
        return _reordered_contract(rng, fmt)
    if roll < 0.5 and len(text) > 1:
        return text[:-1]
    if roll < 0.75:
        position = rng.randint(0, len(text))
        return text[:position] + rng.choice(STRAY_CHARACTERS) + text[position:]
    position = rng.randrange(len(text))
    return text[:position] + text[position + 1:]


def broken_hex(rng: random.Random, value: Value) -> str:
    data = lcb.encode(value)
    roll = rng.random()
    if roll < 0.4 and len(data) > 1:
        data = data[: rng.randint(1, len(data) - 1)]
    elif roll < 0.7:
        data = data + bytes([rng.randint(0, 13)])
    else:
        data = bytes([rng.randint(0x0E, 0xFF)]) + data
    return lcb.to_hex(data)


def make_validate(rng: random.Random, shape: str, formats: tuple[str, ...]) -> Draft:
    """'Validate <FMT>: <text>' for a valid or a deliberately broken input, answered `OK` or the error."""
    fmt = rng.choice(formats)
    value = value_of_shape(rng, shape)
    if rng.random() < 0.5:
        text = render(value, fmt)
    elif fmt == "lc-b":
        text = broken_hex(rng, value)
    else:
        text = broken_text(rng, value, fmt, shape)
    return Draft(f"Validate {FORMAT_LABELS[fmt]}: {text}", diagnose_value(text, fmt),
                 "validate", "diagnostic", shape, FORMAT_TRACKS[fmt])
