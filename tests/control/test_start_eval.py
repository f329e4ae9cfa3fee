"""A phase's start evaluation (eval_at_start) on the supervisor's side: it joins the graded trajectory as
epoch -1, never makes a window by itself, and lets the first epoch's collapse be seen as a regression that
rolls back to the start at half the LR (issue 13, scenario (b): an LR ten times too high)."""

from __future__ import annotations

from agents.rubric import grade_with_rubric
from control.effects import AppendEvent, GradeWindow, Send, WriteDecision
from control.events import Graded, Reported, Tick
from control.tracker import START_EPOCH, SpecialistTracker
from tests.control.machine_fixtures import NOW, feed, night, of, phase_start, step, where
from training.events import EpochEval

N = 48


def scored(epoch: int, step_: int, exact: int, val_loss: float, start: bool = False) -> Reported:
    event = EpochEval(**where("ascii", "main", step=step_, epoch=epoch, time=NOW), train_loss=None,
                      val_loss=val_loss, exact_match=exact / N, format_validity=0.4, n_graded=N, per_task={},
                      samples=[], eval_time_s=0.1, start=start)  # fmt: skip
    return Reported(NOW, "ascii", event)


def start_record(exact: int = 9) -> EpochEval:
    event = scored(0, 0, exact, 4.2, start=True).event
    assert isinstance(event, EpochEval)
    return event


def test_the_start_goes_onto_the_graded_trajectory_once_and_never_makes_a_window() -> None:
    tracker = SpecialistTracker("ascii")
    tracker.start_phase("main")
    tracker.on_epoch(start_record())
    tracker.on_epoch(start_record())  # a retried report
    assert tracker.take_window() is None
    assert [r.epoch for r in tracker.graded_epochs] == [START_EPOCH]
    tracker.on_epoch(start_record(0).model_copy(update={"start": False, "step": 15}))
    window = tracker.take_window()
    assert window is not None
    assert [r.epoch for r in window.earlier_epochs] == [-1] and [r.epoch for r in window.epochs] == [0]


def test_a_new_phase_forgets_the_previous_phases_start() -> None:
    tracker = SpecialistTracker("ascii")
    tracker.start_phase("a")
    tracker.on_epoch(start_record())
    tracker.start_phase("b")
    assert tracker.graded_epochs == []


def test_a_first_epoch_collapse_against_the_start_rolls_back_to_best_and_halves() -> None:
    state = night({"watchdog": {"every_epochs": 1}})
    feed(state, Tick(NOW), phase_start("ascii", "main", peak_lr=2e-2))
    effects = feed(state, scored(0, 0, 9, 4.2, start=True))
    assert not of(effects, GradeWindow) and state.pending_grades == 0
    [line] = [effect.line for effect in of(effects, AppendEvent) if effect.line["type"] == "epoch"]
    assert line["start"] is True
    feed(state, step("ascii", "main", 1))
    # Seed 0 of the bench: 9/48 at the start, 0/48 after the first epoch (the val loss fell a little).
    [request] = of(feed(state, scored(0, 15, 0, 4.1)), GradeWindow)
    evidence = request.window.evidence
    assert evidence is not None and evidence.verdict == "regressing", evidence
    assert evidence.best_exact_match is not None and evidence.best_exact_match.epoch == START_EPOCH
    grade = grade_with_rubric(request.window)
    effects = feed(state, Graded(NOW + 2, "ascii", grade, request.window, False, 0))
    [decision] = of(effects, WriteDecision)
    assert decision.record.action.value == "rollback", decision.record
    commands = {effect.command.name: effect.command for effect in of(effects, Send)}
    # The LR in force is the last step's peak (the step fixture's 3e-3); the rollback goes to "best", which
    # the trainer resolves to the start's checkpoint (it carries the best exact match).
    assert commands["rollback"].checkpoint == "best" and commands["set_lr"].peak_lr == 3e-3 / 2
