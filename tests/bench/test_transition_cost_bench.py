"""bench/transition_cost.py: both ways of applying a step event reach the same night, the copying one leaves
the old night as it was, and the JSON has a row per phase length."""

from __future__ import annotations

import json
from pathlib import Path

from bench.transition_cost import copied, in_place, main, step_event, trained_night

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "scratch.yaml"


def test_in_place_and_copied_reach_the_same_night() -> None:
    by_place, name, phase = trained_night(CONFIG, 30)
    by_copy, _, _ = trained_night(CONFIG, 30)
    before = by_copy.run.model_dump()
    for number in range(31, 36):
        by_place = in_place(by_place, step_event(name, phase, number))
        kept = by_copy
        by_copy = copied(by_copy, step_event(name, phase, number))
        assert by_copy is not kept
    assert by_place.run.model_dump() == by_copy.run.model_dump()
    assert by_place.trackers[name].divergence_losses == by_copy.trackers[name].divergence_losses
    assert len(by_copy.trackers[name].divergence_losses) == 35
    assert kept.run.specialists[name].step == 34  # the night before the last event, untouched
    assert before["specialists"][name]["step"] == 30


def test_the_bench_writes_a_row_per_phase_length(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    assert main(["--steps", "5", "20", "--events", "3", "--rounds", "1", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert [row["steps_in_phase"] for row in written["rows"]] == [5, 20]
    for row in written["rows"]:
        assert row["in_place_us_per_event"] > 0 and row["copied_us_per_event"] > 0
