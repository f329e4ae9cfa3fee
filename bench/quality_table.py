"""The quality bench's tables (markdown, for the terminal and the README), from its result JSON (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.quality_arms import SPLITS
from bench.quality_verdicts import HARD_FAMILIES

MISSING = "–"


def percent(hits: int, n: int) -> str:
    """hits / n as a percentage with one decimal, rounded down, so a figure below a threshold never prints
    as the threshold (7999 of 10000 is 79.9%, not 80.0%)."""
    if not n:
        return MISSING
    tenths = 1000 * hits // n
    return f"{tenths // 10}.{tenths % 10}%"


def _rate(count: Mapping[str, Any] | None, key: str) -> str:
    return percent(count[key], count["n"]) if count else MISSING


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def night_cell(night: Mapping[str, Any] | None) -> str:
    """'wall s / CPU-s' of a night, or what is missing."""
    if night is None:
        return "no night"
    wall, cpu = night.get("wall_s"), night.get("cpu_s")
    if wall is None:
        return "not measured"
    return f"{wall:.0f} s / {cpu:.0f} CPU-s"


def summary_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """One row per arm and split: who answered, exact match, validity, value-format validity, and the
    exact match on the families with their own target; the night's figures on the arm's first row."""
    rows = []
    for name, arm in result["arms"].items():
        night = result["nights"].get(arm["night"]) if arm["night"] else None
        for index, track in enumerate(SPLITS):
            split = arm["splits"].get(track)
            if split is None:
                continue
            tasks = split["per_task"]
            rows.append([
                name if index == 0 else "", track, split["expert"], _rate(split, "correct"),
                _rate(split, "valid"), _rate(split["value_formats"], "valid"),
                *(_rate(tasks.get(family), "correct") for family in HARD_FAMILIES),
                night_cell(night) if index == 0 else "",
            ])  # fmt: skip
    return rows


SUMMARY_HEADER = ["arm", "split", "served by", "exact", "valid", "value-format valid",
                  *(f"{family} exact" for family in HARD_FAMILIES), "night (wall / CPU)"]  # fmt: skip


def family_rows(result: Mapping[str, Any], track: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for one split: a row per task family, a column per arm, cells 'exact / valid'."""
    arms = {name: arm["splits"][track] for name, arm in result["arms"].items() if track in arm["splits"]}
    families = sorted({family for split in arms.values() for family in split["per_task"]})
    rows = []
    for family in families:
        cells = []
        for split in arms.values():
            count = split["per_task"].get(family)
            cells.append(f"{_rate(count, 'correct')} / {_rate(count, 'valid')}" if count else MISSING)
        n = max(split["per_task"].get(family, {}).get("n", 0) for split in arms.values())
        rows.append([family, str(n), *cells])
    return [f"{track} family", "n", *arms], rows


def target_rows(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): a row per target, a column per arm, cells 'figure met/missed'."""
    arms = result["arms"]
    names = list(dict.fromkeys(target for arm in arms.values() for target in arm["targets"]))
    rows = []
    for target in names:
        first = next(arm["targets"][target] for arm in arms.values() if target in arm["targets"])
        cells = [_verdict_cell(arm["targets"].get(target)) for arm in arms.values()]
        rows.append([first["what"], first["needs"], *cells])
    rows.append(["all targets", "", *("**met**" if arm["all_met"] else "missed" for arm in arms.values())])
    return ["target", "needs", *arms], rows


def _verdict_cell(verdict: Mapping[str, Any] | None) -> str:
    if verdict is None:
        return MISSING
    if verdict["met"] is None:
        return "not measured"
    shown = f"{verdict['figure']:.0f} s" if verdict["n"] is None else percent(verdict["hits"], verdict["n"])
    return f"{shown} {'met' if verdict['met'] else 'missed'}"


def render(result: Mapping[str, Any]) -> str:
    """Every table of a result: the summary, the targets, then each split per family."""
    parts = [markdown(SUMMARY_HEADER, summary_rows(result)), markdown(*target_rows(result))]
    parts += [markdown(*family_rows(result, track)) for track in SPLITS]
    return "\n\n".join(parts)
