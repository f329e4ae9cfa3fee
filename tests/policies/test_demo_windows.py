"""Windows recorded from a real demo night (fixtures/demo_windows.json) go through the evidence and the policy
as the supervisor sends them: no halve, no rollback, although the seeds' rubric grades them D and F."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.evidence import assess
from agents.metrics import EpochRecord, MetricWindow
from agents.rubric import grade_with_rubric
from control.grading import evaluations_left
from policies.decide import decide
from policies.decisions import Action, Decision, PhasePosition, TrainParams, Trigger
from policies.history import History
from settings.run import load_run_config

FIXTURE = Path(__file__).parent / "fixtures" / "demo_windows.json"
RECORDED = json.loads(FIXTURE.read_text(encoding="utf-8"))["specialists"]
DEMO = load_run_config("configs/scratch.yaml")  # the from-scratch demo the windows were recorded on


def night(name: str, entry: dict[str, Any]) -> list[tuple[str, Decision]]:
    """(letter, decision) per recorded window, each decided on the history the ones before it left."""
    epochs = DEMO.foundation.epochs if name == "foundation" else DEMO.specialists[name].phases[0].epochs
    history = History(specialist=name, phase=entry["phase"],
                      params=TrainParams(peak_lr=DEMO.training.learning_rate, micro_batch=32, grad_accum=1))
    earlier: list[EpochRecord] = []
    decided = []
    for item in entry["windows"]:
        record = EpochRecord(epoch=item["epoch"], val_loss=item["val_loss"], exact_match=item["exact_match"],
                             format_validity=item["format_validity"], lr=item["lr"], n=item["n"])
        window = MetricWindow(specialist=name, phase=entry["phase"], epochs=[record], earlier_epochs=earlier,
                              step_losses=item["step_losses"], step_grad_norms=item["step_grad_norms"])
        grade = grade_with_rubric(window, DEMO.grader.rubric)
        left = evaluations_left(record.epoch, epochs, DEMO.training.eval_every_epochs)
        where = PhasePosition(epochs_planned=epochs, evaluations_left=left, seconds_per_epoch=60.0,
                              seconds_left=8 * 3600.0)
        trigger = Trigger.grade(grade.letter, grade.score, epoch=record.epoch,
                                evidence=assess(window, DEMO.policies.evidence), position=where)
        decision = decide(trigger, history, DEMO.policies)
        epochs = decision.params_after.epochs or epochs  # an extension moves the phase's last evaluation
        history = history.after(decision)
        earlier.append(record)
        decided.append((grade.letter, decision))
    return decided


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_a_recorded_demo_night_gets_no_halve_and_no_rollback(name: str) -> None:
    decided = night(name, RECORDED[name])
    actions = [decision.action for _, decision in decided]
    assert not {Action.HALVE_LR, Action.ROLLBACK} & set(actions), [d.reason for _, d in decided]
    # The letters alone would have intervened at every evaluation (D halved, F rolled back).
    assert {letter for letter, _ in decided} <= {"D", "F"}


def test_the_foundation_still_improving_at_its_end_is_extended_within_max_extra_epochs() -> None:
    decided = night("foundation", RECORDED["foundation"])
    assert [d.action for _, d in decided] == [Action.CONTINUE, Action.EXTEND_PHASE, Action.CONTINUE]
    extended = decided[1][1]
    assert (extended.params_before.epochs, extended.params_after.epochs) == (6, 8)
    assert "not extended (2 of max_extra_epochs 2 used" in decided[2][1].reason
