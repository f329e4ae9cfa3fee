"""The quality bench's arithmetic: checker verdicts tallied per family and format, issue 14's targets (pure).

Targets ("Done when" of issue 14), compared on integer counts with exact fractions so a row at the
threshold is met and one a hair below is not:
- ascii and runic: val exact match >= 80% overall, and >= 95% on each of convert and parse;
- validity of the answers in a value format (HLXL, LC-T, LC-R, LC-B) >= 99% (the issue asks it with grammar);
- the coordinator: >= 70% exact match on the general val split;
- the night (where the arm has one): at most 10 minutes of wall time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

SPECIALIST_TRACKS = ("ascii", "runic")
SPECIALIST_EXACT = Fraction(80, 100)
FAMILY_EXACT = Fraction(95, 100)
HARD_FAMILIES = ("convert", "parse")
VALUE_VALIDITY = Fraction(99, 100)
COORDINATOR_EXACT = Fraction(70, 100)
NIGHT_WALL_S = 600.0


def _count(n: int = 0, correct: int = 0, valid: int = 0) -> dict[str, Any]:
    return {"n": n, "correct": correct, "valid": valid}


def _with_rates(count: dict[str, Any]) -> dict[str, Any]:
    n = count["n"]
    return {
        **count,
        "exact_match": round(count["correct"] / n, 4) if n else None,
        "validity": round(count["valid"] / n, 4) if n else None,
    }


def tally(verdicts: Iterable[tuple[str, str, bool, bool, bool]]) -> dict[str, Any]:
    """Counts and rates from (task, format, has_grammar, correct, valid) per graded answer: overall, per
    task family, per format, and over the answers in a value format (those with a grammar)."""
    total, value_formats = _count(), _count()
    per_task: dict[str, dict[str, Any]] = {}
    per_format: dict[str, dict[str, Any]] = {}
    for task, fmt, has_grammar, correct, valid in verdicts:
        counts = [total, per_task.setdefault(task, _count()), per_format.setdefault(fmt, _count())]
        for count in counts + ([value_formats] if has_grammar else []):
            count["n"] += 1
            count["correct"] += int(correct)
            count["valid"] += int(valid)
    return {
        **_with_rates(total),
        "per_task": {task: _with_rates(per_task[task]) for task in sorted(per_task)},
        "per_format": {fmt: _with_rates(per_format[fmt]) for fmt in sorted(per_format)},
        "value_formats": _with_rates(value_formats),
    }


def pooled(counts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts of several tallies added up, with their rates."""
    total = _count()
    for count in counts:
        for key in total:
            total[key] += count[key]
    return _with_rates(total)


def _at_least(hits: int, n: int, needs: Fraction, what: str) -> dict[str, Any]:
    """A rate target: met when hits / n >= needs exactly; not measured (met None) when n is 0."""
    return {
        "what": what,
        "needs": f">= {float(needs):.0%}",
        "figure": round(hits / n, 4) if n else None,
        "hits": hits,
        "n": n,
        "met": Fraction(hits, n) >= needs if n else None,
    }


def target_verdicts(splits: Mapping[str, Mapping[str, Any]], night_wall_s: float | None,
                    has_night: bool) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each target of issue 14 for one arm, from its split tallies (track -> tally) and its night's wall
    time (None when not measured). A target whose split or family was not graded is not met (met None)."""
    verdicts: dict[str, dict[str, Any]] = {}
    for track in SPECIALIST_TRACKS:
        split = splits.get(track, {})
        verdicts[f"{track}_exact"] = _at_least(
            split.get("correct", 0), split.get("n", 0), SPECIALIST_EXACT, f"{track} val exact match"
        )
        for family in HARD_FAMILIES:
            count = split.get("per_task", {}).get(family, {})
            verdicts[f"{track}_{family}_exact"] = _at_least(
                count.get("correct", 0), count.get("n", 0), FAMILY_EXACT, f"{track} {family} exact match"
            )
    values = pooled(split["value_formats"] for split in splits.values())
    verdicts["value_format_validity"] = _at_least(
        values["valid"], values["n"], VALUE_VALIDITY, "validity of value-format answers, all splits"
    )
    general = splits.get("general", {})
    verdicts["coordinator_exact"] = _at_least(
        general.get("correct", 0), general.get("n", 0), COORDINATOR_EXACT, "coordinator general exact match"
    )
    if has_night:
        verdicts["night_wall"] = {
            "what": "night wall time (s)",
            "needs": f"<= {NIGHT_WALL_S:.0f}",
            "figure": night_wall_s,
            "hits": None,
            "n": None,
            "met": None if night_wall_s is None else night_wall_s <= NIGHT_WALL_S,
        }
    return verdicts


def all_met(verdicts: Mapping[str, Mapping[str, Any]]) -> bool:
    """True only when every target was measured and met."""
    return all(verdict["met"] is True for verdict in verdicts.values())
