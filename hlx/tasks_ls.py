"""Task makers for the six LS operations (HLX_SPEC §6) on values and programs, answered by hlx.ls."""

from __future__ import annotations

import random

from hlx import ls
from hlx.errors import HLXError
from hlx.formats import parse, render
from hlx.program import parse_program, render_program
from hlx.tasks_common import (
    FORMAT_LABELS,
    FORMAT_TRACKS,
    LS_NAMES,
    PROGRAM_TRACKS,
    WORDS,
    Draft,
    Maker,
    Redraw,
    collect_handles,
    value_of_shape,
)
from hlx.tasks_programs import broken_program, canonical_program, diagnose_program
from hlx.tasks_source import program_source
from hlx.tasks_values import broken_text
from hlx.transliterate import to_runic
from hlx.values import values_equal

# Shapes that can hold a handle: rename draws only these so that most renames change something.
RENAME_SHAPES: tuple[str, ...] = ("handle", "array", "contract", "record")
RESPACE_SHAPES: tuple[str, ...] = ("array", "contract", "record")
# Shapes with something to close: a scalar cut short is either already complete or cannot be finished.
COMPLETE_SHAPES: tuple[str, ...] = ("text", "array", "contract", "record")
_SPACERS: tuple[str, ...] = (" ", " ", "  ", "\n")
_DRAWS = 30


def _instruction(operation: str, fmt: str, text: str, before: str = "", after: str = "") -> str:
    """'<LS> <operation>[before] <FORMAT>[after]: <text>', e.g. 'HLX-LS hover LC-R at offset 3: ...'."""
    return f"{LS_NAMES[FORMAT_TRACKS[fmt]]} {operation}{before} {FORMAT_LABELS[fmt]}{after}: {text}"


def _draft(task: str, fmt: str, text: str, response: str, answer_format: str, shape: str,
           before: str = "", after: str = "") -> Draft:
    instruction = _instruction(task, fmt, text, before, after)
    return Draft(instruction, response, task, answer_format, shape, FORMAT_TRACKS[fmt])


def _text(rng: random.Random, shape: str, fmt: str) -> str:
    return render(value_of_shape(rng, shape), fmt)


def make_diagnose(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> diagnose <FMT>: <text>' on a valid or deliberately broken value; `OK` or the first error."""
    text = _text(rng, shape, fmt)
    if rng.random() < 0.5:
        text = broken_text(rng, parse(text, fmt), fmt, shape)
    if not text.strip():
        raise Redraw("a broken one-character value left nothing to diagnose")
    return _draft("diagnose", fmt, text, ls.diagnose(text, fmt), "diagnostic", shape)


def make_hover(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> hover <FMT> at offset N: <text>' answered with hover's description of the value there."""
    text = _text(rng, shape, fmt)
    offsets = [index for index, char in enumerate(text) if not char.isspace()]
    offset = 0 if rng.random() < 0.3 else rng.choice(offsets)
    answer = ls.hover(text, offset, fmt)
    return _draft("hover", fmt, text, answer, "text", shape, after=f" at offset {offset}")


def make_complete(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> complete <FMT>: <cut-short text>' answered with the text and the closers that finish it."""
    text = _text(rng, shape, fmt)
    cuts = list(range(1, len(text)))
    rng.shuffle(cuts)
    for cut in cuts[:_DRAWS]:
        prefix = text[:cut]
        if not prefix.strip() or prefix != prefix.rstrip():
            continue
        try:
            finished = ls.complete(prefix, fmt)
        except HLXError:
            continue
        if finished == prefix:
            continue
        return _draft("complete", fmt, prefix, finished, fmt, shape)
    raise Redraw(f"no cut of {text!r} can be finished by closers alone")


def make_rename(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> rename handle OLD to NEW in <FMT>: <text>' answered with the renamed canonical text."""
    for _ in range(_DRAWS):
        value = value_of_shape(rng, shape)
        names = collect_handles(value)
        if names:
            break
    else:
        raise Redraw(f"no {shape} with a handle in {_DRAWS} draws")
    old = rng.choice(names) if rng.random() < 0.9 else rng.choice(WORDS)
    new = rng.choice([word for word in WORDS if word != old])
    text = render(value, fmt)
    renamed = ls.rename(text, old, new, fmt)
    return _draft("rename", fmt, text, renamed, fmt, shape, before=f" handle {old} to {new} in")


def respaced(rng: random.Random, text: str, fmt: str) -> str:
    """The text with spacing changed between tokens (never inside strings); it still parses the same."""
    value = parse(text, fmt)
    current = text
    for _ in range(rng.randint(2, 5)):
        inside, positions = False, []
        for index, char in enumerate(current):
            if char == '"' and (index == 0 or current[index - 1] != "\\"):
                inside = not inside
            elif not inside:
                positions.append(index)
        position = rng.choice(positions)
        if current[position] == " ":
            candidate = current[:position] + current[position + 1:]
        else:
            candidate = current[:position] + rng.choice(_SPACERS) + current[position:]
        try:
            if values_equal(parse(candidate, fmt), value):
                current = candidate
        except HLXError:
            continue
    if current.strip() == text:
        raise Redraw("respacing left the text canonical")
    return current.strip()


def make_format(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> format <FMT>: <oddly spaced text>' answered with the canonical spacing."""
    text = respaced(rng, _text(rng, shape, fmt), fmt)
    return _draft("format", fmt, text, ls.format(text, fmt), fmt, shape)


def make_infer(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> infer <FMT>: <text>' answered with the value's kind, e.g. `contract 1000 [text, handle]`."""
    text = _text(rng, shape, fmt)
    return _draft("infer", fmt, text, ls.infer(text, fmt), "text", shape)


def make_diagnose_program(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> diagnose <HLXL|HLX> program: <code>' on a valid or broken program; `OK` or the first error."""
    code = canonical_program(rng, shape, fmt)
    if rng.random() < 0.5:
        code = broken_program(rng, code)
    return _draft("diagnose", fmt, code, diagnose_program(code, fmt), "diagnostic", shape)


def make_format_program(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'<LS> format <HLXL|HLX> program: <one-line code>' answered with the canonical multi-line layout."""
    code = program_source(rng, shape)
    if fmt == "hlx-program":
        code = to_runic(code)
    track = PROGRAM_TRACKS[fmt]
    return _draft("format", fmt, code, render_program(parse_program(code, track), track), fmt, shape)


VALUE_MAKERS: dict[str, Maker] = {
    "diagnose": make_diagnose, "hover": make_hover, "complete": make_complete, "rename": make_rename,
    "format": make_format, "infer": make_infer,
}
VALUE_SHAPES_BY_TASK: dict[str, tuple[str, ...]] = {
    "rename": RENAME_SHAPES, "format": RESPACE_SHAPES, "complete": COMPLETE_SHAPES,
}
PROGRAM_MAKERS: dict[str, Maker] = {"diagnose": make_diagnose_program, "format": make_format_program}
