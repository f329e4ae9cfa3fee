"""The quality bench's tallies and issue 14's targets, each threshold pinned at its exact boundary."""

from __future__ import annotations

from typing import Any

import pytest

from bench import quality_verdicts as v


def split(correct: int, n: int, families: dict[str, tuple[int, int]] | None = None,
          value_valid: int = 0, value_n: int = 0) -> dict[str, Any]:  # fmt: skip
    """A split tally as `tally` shapes it: counts overall, per family (correct, n), in value formats."""
    per_task = {task: {"n": fn, "correct": fc, "valid": fn} for task, (fc, fn) in (families or {}).items()}
    return {"n": n, "correct": correct, "valid": n, "per_task": per_task,
            "value_formats": {"n": value_n, "correct": 0, "valid": value_valid}}  # fmt: skip


def passing_splits() -> dict[str, dict[str, Any]]:
    good = {"convert": (19, 20), "parse": (19, 20)}  # 95% exactly
    return {
        "general": split(140, 200, value_valid=99, value_n=100),  # 70% exactly
        "ascii": split(160, 200, good),  # 80% exactly
        "runic": split(160, 200, good),
    }


def test_tally_counts_overall_per_family_per_format_and_value_formats() -> None:
    result = v.tally([
        ("convert", "lc-r", True, True, True),
        ("convert", "lc-r", True, False, True),
        ("convert", "hlxl", True, False, False),
        ("diagnose", "diagnostic", False, True, True),
    ])  # fmt: skip
    assert (result["n"], result["correct"], result["valid"]) == (4, 2, 3)
    assert result["exact_match"] == 0.5 and result["validity"] == 0.75
    assert result["per_task"]["convert"] == {"n": 3, "correct": 1, "valid": 2, "exact_match": 0.3333,
                                             "validity": 0.6667}  # fmt: skip
    assert result["per_format"]["lc-r"]["n"] == 2 and result["per_format"]["diagnostic"]["correct"] == 1
    # The diagnostic answer has no grammar: only the three value-format answers count here.
    assert result["value_formats"] == {"n": 3, "correct": 1, "valid": 2, "exact_match": 0.3333,
                                       "validity": 0.6667}  # fmt: skip


def test_an_empty_tally_has_no_rates() -> None:
    result = v.tally([])
    assert result["n"] == 0 and result["exact_match"] is None and result["value_formats"]["validity"] is None


def test_every_target_is_met_at_exactly_its_threshold() -> None:
    verdicts = v.target_verdicts(passing_splits(), night_wall_s=600.0, has_night=True)
    assert {name: verdict["met"] for name, verdict in verdicts.items()} == {
        "ascii_exact": True, "ascii_convert_exact": True, "ascii_parse_exact": True,
        "runic_exact": True, "runic_convert_exact": True, "runic_parse_exact": True,
        "value_format_validity": True, "coordinator_exact": True, "night_wall": True,
    }  # fmt: skip
    assert v.all_met(verdicts)


@pytest.mark.parametrize(
    ("track", "changed", "target"),
    [
        ("ascii", split(7999, 10000, {"convert": (19, 20), "parse": (19, 20)}), "ascii_exact"),  # 79.99%
        ("runic", split(159, 200, {"convert": (19, 20), "parse": (19, 20)}), "runic_exact"),  # 79.5%
        ("ascii", split(160, 200, {"convert": (9499, 10000), "parse": (19, 20)}), "ascii_convert_exact"),
        ("runic", split(160, 200, {"convert": (19, 20), "parse": (18, 20)}), "runic_parse_exact"),
        ("general", split(6999, 10000, value_valid=99, value_n=100), "coordinator_exact"),  # 69.99%
        ("general", split(140, 200, value_valid=9899, value_n=10000), "value_format_validity"),  # 98.99%
    ],
)
def test_a_row_a_hair_below_a_threshold_misses_that_target_only(
    track: str, changed: dict[str, Any], target: str
) -> None:
    splits = {**passing_splits(), track: changed}
    verdicts = v.target_verdicts(splits, night_wall_s=600.0, has_night=True)
    assert [name for name, verdict in verdicts.items() if not verdict["met"]] == [target]
    assert not v.all_met(verdicts)


def test_the_night_may_take_600_seconds_but_not_one_more() -> None:
    assert v.target_verdicts(passing_splits(), 600.0, has_night=True)["night_wall"]["met"] is True
    assert v.target_verdicts(passing_splits(), 600.1, has_night=True)["night_wall"]["met"] is False


def test_value_format_validity_is_pooled_over_every_split() -> None:
    splits = passing_splits()
    splits["ascii"]["value_formats"] = {"n": 100, "correct": 0, "valid": 100}
    splits["general"]["value_formats"] = {"n": 100, "correct": 0, "valid": 98}
    # 198 of 200: 99% pooled, though general alone is at 98%.
    verdict = v.target_verdicts(splits, None, has_night=False)["value_format_validity"]
    assert (verdict["hits"], verdict["n"], verdict["met"]) == (198, 200, True)


def test_what_was_not_measured_is_not_met() -> None:
    splits = passing_splits()
    del splits["ascii"]["per_task"]["parse"]
    verdicts = v.target_verdicts(splits, night_wall_s=None, has_night=True)
    assert verdicts["ascii_parse_exact"]["met"] is None and verdicts["ascii_parse_exact"]["n"] == 0
    assert verdicts["night_wall"]["met"] is None
    assert not v.all_met(verdicts)


def test_an_arm_without_a_night_has_no_wall_time_target() -> None:
    verdicts = v.target_verdicts(passing_splits(), night_wall_s=None, has_night=False)
    assert "night_wall" not in verdicts and v.all_met(verdicts)
