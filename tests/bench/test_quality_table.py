"""The quality bench's arms bookkeeping and its tables."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench.quality_arms import ARMS, nights_needed, parse_arms
from bench.quality_table import family_rows, night_cell, percent, render, summary_rows, target_rows
from bench.quality_verdicts import all_met, tally, target_verdicts


def test_the_arms_come_in_the_bench_order_whatever_order_they_are_named_in() -> None:
    assert [arm.name for arm in parse_arms("scratch, base")] == ["base", "scratch"]
    assert [arm.name for arm in parse_arms("base,specialist,grammar,scratch")] == list(ARMS)


@pytest.mark.parametrize(
    ("text", "message"), [("base,fancy", "unknown arm(s) fancy"), (" , ", "no arm named")]
)
def test_a_bad_arm_list_names_the_arms(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        parse_arms(text)
    assert "the arms are base, specialist, grammar, scratch" in str(error.value)


def test_the_specialist_and_grammar_arms_share_one_demo_night() -> None:
    assert nights_needed(parse_arms("grammar,specialist")) == ["demo"]
    assert nights_needed(parse_arms("scratch,grammar")) == ["demo", "scratch"]
    assert nights_needed(parse_arms("base")) == []
    assert ARMS["grammar"].constrained and not ARMS["specialist"].constrained


@pytest.mark.parametrize(
    ("hits", "n", "shown"),
    [(7999, 10000, "79.9%"), (8000, 10000, "80.0%"), (160, 200, "80.0%"), (1, 3, "33.3%"), (2, 3, "66.6%"),
     (200, 200, "100.0%"), (0, 200, "0.0%"), (0, 0, "–")],
)  # fmt: skip
def test_a_percentage_is_rounded_down_so_a_miss_never_prints_as_the_threshold(
    hits: int, n: int, shown: str
) -> None:
    assert percent(hits, n) == shown


def _split(expert: str, verdicts: list[tuple[str, str, bool, bool, bool]]) -> dict[str, Any]:
    return {"expert": expert, **tally(verdicts)}


def _result() -> dict[str, Any]:
    convert_ok = ("convert", "lc-r", True, True, True)
    parse_bad = ("parse", "hlxl", True, False, False)
    splits = {
        "general": _split("coordinator", [("validate", "diagnostic", False, True, True)]),
        "ascii": _split("ascii", [convert_ok, parse_bad]),
        "runic": _split("runic", [convert_ok]),
    }
    targets = target_verdicts(splits, 123.4, has_night=True)
    arm = {"night": "demo", "splits": splits, "targets": targets, "all_met": all_met(targets)}
    return {"nights": {"demo": {"wall_s": 123.4, "cpu_s": 234.5}}, "arms": {"specialist": arm}}


def test_the_summary_has_a_row_per_split_with_the_night_on_the_arm_first_row() -> None:
    rows = summary_rows(_result())
    assert rows[0] == ["specialist", "general", "coordinator", "100.0%", "100.0%", "–", "–", "–",
                       "123 s / 234 CPU-s"]  # fmt: skip
    assert rows[1] == ["", "ascii", "ascii", "50.0%", "50.0%", "50.0%", "100.0%", "0.0%", ""]
    assert len(rows) == 3


def test_night_cells_say_what_is_missing() -> None:
    assert night_cell(None) == "no night"
    assert night_cell({"wall_s": None, "cpu_s": None}) == "not measured"


def test_target_rows_show_the_figure_and_the_verdict_per_arm() -> None:
    header, rows = target_rows(_result())
    assert header == ["target", "needs", "specialist"]
    by_target = {row[0]: row[2] for row in rows}
    assert by_target["ascii val exact match"] == "50.0% missed"
    assert by_target["runic convert exact match"] == "100.0% met"
    assert by_target["runic parse exact match"] == "not measured"
    assert by_target["night wall time (s)"] == "123 s met"
    assert rows[-1] == ["all targets", "", "missed"]


def test_family_rows_give_exact_and_validity_per_family_and_arm() -> None:
    header, rows = family_rows(_result(), "ascii")
    assert header == ["ascii family", "n", "specialist"]
    assert rows == [["convert", "1", "100.0% / 100.0%"], ["parse", "1", "0.0% / 0.0%"]]
    separators = [line for line in render(_result()).splitlines() if line.startswith("| --- |")]
    assert len(separators) == 5  # summary, targets, three splits
