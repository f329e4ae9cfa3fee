"""Task makers on programs: transliterate between HLXL and HLX, validate programs of either track."""

from __future__ import annotations

import random

from hlx.errors import HLXError
from hlx.program import parse_program, render_program
from hlx.tasks_common import FORMAT_LABELS, FORMAT_TRACKS, PROGRAM_TRACKS, Draft
from hlx.tasks_source import program_source
from hlx.transliterate import to_ascii, to_runic

# Characters outside the program grammar; inserting one outside a string breaks the program on purpose.
STRAY_PROGRAM_CHARACTERS: tuple[str, ...] = ("$", "`", "#", "?", "~")


def canonical_program(rng: random.Random, shape: str, fmt: str) -> str:
    """A small program of the named shape, canonically rendered on the track of `fmt`."""
    hlxl = render_program(parse_program(program_source(rng, shape), "hlxl"), "hlxl")
    return hlxl if fmt == "hlxl-program" else to_runic(hlxl)


def make_transliterate(rng: random.Random, shape: str, target: str) -> Draft:
    """'Transliterate to HLX: <HLXL program>' or the reverse, answered token by token by the toolkit."""
    if target == "hlx-program":
        source = canonical_program(rng, shape, "hlxl-program")
        response = to_runic(source)
    else:
        source = canonical_program(rng, shape, "hlx-program")
        response = to_ascii(source)
    label = FORMAT_LABELS[target].removesuffix(" program")
    return Draft(f"Transliterate to {label}: {source}", response, "transliterate", target, shape,
                 FORMAT_TRACKS[target])


def diagnose_program(code: str, fmt: str) -> str:
    """`OK` when the program parses on its track, else the toolkit's error line."""
    try:
        parse_program(code, PROGRAM_TRACKS[fmt])
    except HLXError as err:
        return str(err)
    return "OK"


def _string_spans(code: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = code.find('"')
    while start != -1:
        end = code.find('"', start + 1)
        if end == -1:
            break
        spans.append((start, end))
        start = code.find('"', end + 1)
    return spans


def broken_program(rng: random.Random, code: str) -> str:
    """The program with one token dropped or a stray character inserted, never inside a string."""
    spans = _string_spans(code)
    positions = [i for i in range(len(code)) if not any(a <= i <= b for a, b in spans)]
    roll = rng.random()
    if roll < 0.5:
        droppable = [i for i in positions if code[i] in ";{}()="]
        position = rng.choice(droppable)
        return code[:position] + code[position + 1:]
    position = rng.choice(positions)
    return code[:position] + rng.choice(STRAY_PROGRAM_CHARACTERS) + code[position:]


def make_validate_program(rng: random.Random, shape: str, fmt: str) -> Draft:
    """'Validate HLXL program: <code>' for a valid or deliberately broken program; `OK` or the error."""
    code = canonical_program(rng, shape, fmt)
    if rng.random() < 0.5:
        code = broken_program(rng, code)
    return Draft(f"Validate {FORMAT_LABELS[fmt]}: {code}", diagnose_program(code, fmt), "validate",
                 "diagnostic", shape, FORMAT_TRACKS[fmt])
