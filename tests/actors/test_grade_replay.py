"""A grade F that rolls back before its own epoch: the replayed epoch is graded anew, not looped on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.actors.run_configs import merged, tiny_run_data
from tests.actors.test_supervisor_inprocess import build, fast, log_lines, run_to_end


def test_a_rollback_before_the_graded_epoch_gets_a_new_grade_and_the_run_ends(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    output_dir: Path = tmp_path_factory.mktemp("replay")
    data = merged(
        fast(tiny_run_data(output_dir, "replay", specialists=("ascii",), epochs=3)),
        {
            # A hard fault in a window grades it F (score capped at 0): F rolls back to the best checkpoint,
            # which (all exact matches 0) is the phase's first, before the graded epoch.
            "grader": {"rubric": {"hard_fault_cap": 0}},
            "specialists": {"ascii": {"faults": {"main": {"nan_at_step": 8}}}},
        },
    )
    supervisor, workers, config = build(data)
    state = run_to_end(supervisor, workers)
    assert state["specialists"]["ascii"]["state"] in ("finished", "aborted")
    decisions = [line for line in log_lines(config.run_dir()) if line["kind"] == "decision"]
    grades = [(line["phase"], line["epoch"]) for line in decisions if line["trigger"]["kind"] == "grade"]
    replayed = [key for key in set(grades) if grades.count(key) > 1]
    assert replayed, f"no epoch was graded twice: {grades}"
    assert len({line["decision_id"] for line in decisions}) == len(decisions)
