"""What the supervisor puts around a graded window: evaluations left, planned epochs, actions, the line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.rubric import grade_with_rubric
from control.grading import (
    allowed_actions,
    evaluations_left,
    grade_line,
    planned_epochs,
    seconds_left,
    with_evidence,
)
from policies.decide import decide
from policies.decision_log import DecisionRecord
from settings.policies import PolicyLimits
from tests.agents.window_factory import make_window
from tests.policies.histories import PARAMS, fresh, graded, position


@pytest.mark.parametrize(("epoch", "planned", "every", "left"), [
    (1, 6, 2, 2), (3, 6, 2, 1), (5, 6, 2, 0), (0, 5, 2, 3), (3, 5, 2, 1), (4, 5, 2, 0), (0, 1, 1, 0),
], ids=["demo-first", "demo-penultimate", "demo-last", "odd-first", "odd-last-is-extra", "odd-last",
        "single"])
def test_evaluations_left_follow_the_recipe_schedule(epoch: int, planned: int, every: int, left: int) -> None:
    # The recipe evaluates every `every` epochs and always after the last (a 5-epoch phase at 2: 2, 4, 5).
    assert evaluations_left(epoch, planned, every) == left


def record(decision: object, phase: str = "phase2") -> DecisionRecord:
    return DecisionRecord.from_decision(decision, run="r", specialist="ascii", phase=phase,  # type: ignore[arg-type]
                                        time=datetime(2025, 1, 1, tzinfo=UTC))


def test_planned_epochs_follow_the_last_stop_early_or_extension_of_the_phase() -> None:
    extended = decide(graded("improving", where=position(planned=6, left=1)), fresh())
    stopped = decide(graded("plateaued", epoch=6, beyond_doubt=True, where=position(planned=8)), fresh())
    assert planned_epochs([], "phase2", 6) == 6
    assert planned_epochs([record(extended)], "phase2", 6) == 8
    assert planned_epochs([record(extended), record(stopped)], "phase2", 6) == 7
    assert planned_epochs([record(extended, phase="other")], "phase2", 6) == 6


def test_allowed_actions_shrink_with_the_bounds() -> None:
    assert allowed_actions(fresh(), PolicyLimits(), last_evaluation=True) == ["select_best"]
    assert allowed_actions(fresh(), PolicyLimits(), last_evaluation=False) == [
        "continue", "flag_for_review", "halve_lr", "rollback", "stop_early", "extend_phase"]
    at_min = fresh(PARAMS.model_copy(update={"peak_lr": 1e-6}))
    assert allowed_actions(at_min, PolicyLimits(max_extra_epochs=0), last_evaluation=False) == [
        "continue", "flag_for_review", "stop_early"]
    halved = fresh().after(decide(graded("plateaued"), fresh()))
    assert "halve_lr" not in allowed_actions(halved, PolicyLimits(), last_evaluation=False)  # the cool-down


def test_seconds_left_before_the_night_deadline() -> None:
    assert seconds_left(1000.0, 1.0, now=1600.0) == 3000.0
    assert seconds_left(1000.0, None, now=1600.0) is None


def test_the_grade_line_carries_components_and_evidence() -> None:
    window = with_evidence(make_window(), fresh(), PolicyLimits(), last_evaluation=False)
    line = grade_line(grade_with_rubric(window), window, step=40)
    where = (line["type"], line["epoch"], line["step"], line["score"], line["letter"])
    assert where == ("grade", 4, 40, 100, "A")
    assert [c["name"] for c in line["components"]] == [
        "loss_convergence", "validation_accuracy", "format_correctness", "progress_consistency"]
    assert line["components"][0]["measured"]["spikes"] == 0.0
    assert line["evidence"]["verdict"] == "improving"
    assert window.allowed_actions[0] == "continue"
