"""Grade a model's answer against the reference answer in an expected format; never raises on any input."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hlx.errors import HLXError
from hlx.formats import FORMATS, parse, render
from hlx.program import parse_program, render_program
from hlx.values import values_equal

PROGRAM_TRACKS: dict[str, str] = {"hlxl-program": "hlxl", "hlx-program": "hlx"}
CHECK_FORMATS: tuple[str, ...] = (*FORMATS, *PROGRAM_TRACKS, "diagnostic", "text")
# `.` stops at a line break, so a diagnostic is exactly one line (after stripping surrounding whitespace).
DIAGNOSTIC_RE = re.compile(r"E_[A-Z_]+ \(([0-9]+)\) at ([0-9]+): .*")


@dataclass(frozen=True)
class Verdict:
    """How an answer fared: `valid` (it parses in the expected format), `correct` (it means the same as the
    reference), `error` (why it is not valid or not correct, None when it is both) and `canonical` (the
    answer's canonical rendering, None when it is not valid)."""

    valid: bool
    correct: bool
    error: str | None = None
    canonical: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The verdict as a JSON-ready dict with keys valid, correct, error, canonical."""
        return {"valid": self.valid, "correct": self.correct, "error": self.error,
                "canonical": self.canonical}


def check(output: str, reference: str, fmt: str) -> Verdict:
    """Grade `output` against `reference` in `fmt`, one of CHECK_FORMATS (case-insensitive).

    Value formats and programs are compared by meaning (value / AST equality), diagnostics by error code and
    offset (or both `OK`), free text after collapsing whitespace. Surrounding whitespace never counts.
    """
    try:
        normal = fmt.strip().lower()
        grader = _GRADERS.get(normal)
        if grader is None:
            return Verdict(False, False, f"unknown format {fmt!r}; use one of {', '.join(CHECK_FORMATS)}")
        return grader(output, reference, normal)
    except Exception as err:
        # Grading must never crash a training run (RecursionError, MemoryError on absurd outputs included);
        # the verdict carries what went wrong instead.
        return Verdict(False, False, f"could not grade this output: {type(err).__name__}: {err}")


def _check_value(output: str, reference: str, fmt: str) -> Verdict:
    try:
        value = parse(output.strip(), fmt)
    except HLXError as err:
        return Verdict(False, False, f"output is not valid {fmt}: {err}")
    canonical = render(value, fmt)
    try:
        expected = parse(reference.strip(), fmt)
    except HLXError as err:
        return Verdict(True, False, f"reference is not valid {fmt}: {err}", canonical)
    if values_equal(value, expected):
        return Verdict(True, True, None, canonical)
    return Verdict(True, False, f"output is valid {fmt} but denotes a different value than the reference",
                   canonical)


def _check_program(output: str, reference: str, fmt: str) -> Verdict:
    track = PROGRAM_TRACKS[fmt]
    try:
        program = parse_program(output.strip(), track)
    except HLXError as err:
        return Verdict(False, False, f"output is not a valid {fmt}: {err}")
    canonical = render_program(program, track)
    try:
        expected = parse_program(reference.strip(), track)
    except HLXError as err:
        return Verdict(True, False, f"reference is not a valid {fmt}: {err}", canonical)
    if program == expected:
        return Verdict(True, True, None, canonical)
    return Verdict(True, False, f"output is a valid {fmt} but differs from the reference", canonical)


def _diagnosis(text: str) -> tuple[int, int] | str | None:
    """(code, offset) for an error line, "OK" for OK, None for anything else."""
    text = text.strip()
    if text == "OK":
        return "OK"
    match = DIAGNOSTIC_RE.fullmatch(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _check_diagnostic(output: str, reference: str, fmt: str) -> Verdict:
    got = _diagnosis(output)
    if got is None:
        return Verdict(False, False, "output is neither OK nor a line 'E_NAME (code) at <offset>: <reason>'")
    canonical = output.strip()
    expected = _diagnosis(reference)
    if expected is None:
        return Verdict(True, False, "reference is neither OK nor an error line", canonical)
    if got == expected:
        return Verdict(True, True, None, canonical)
    return Verdict(True, False, f"output reports {_describe(got)}, the reference {_describe(expected)}",
                   canonical)


def _describe(diagnosis: tuple[int, int] | str) -> str:
    if isinstance(diagnosis, str):
        return "OK"
    code, offset = diagnosis
    return f"error {code} at {offset}"


def _check_text(output: str, reference: str, fmt: str) -> Verdict:
    collapsed = " ".join(output.split())
    if not collapsed:
        return Verdict(False, False, "output is empty")
    if collapsed == " ".join(reference.split()):
        return Verdict(True, True, None, collapsed)
    return Verdict(True, False, "output text differs from the reference (whitespace ignored)", collapsed)


_GRADERS: dict[str, Callable[[str, str, str], Verdict]] = {
    **dict.fromkeys(FORMATS, _check_value),
    **dict.fromkeys(PROGRAM_TRACKS, _check_program),
    "diagnostic": _check_diagnostic,
    "text": _check_text,
}
