"""A trainer's events as pure transitions: the phase's parameters from its start (not the config's guess),
faults decided within the step, spikes and divergence, grades applied only while their phase runs."""

from __future__ import annotations

from agents.rubric import grade_with_rubric
from control.effects import AppendEvent, GradeWindow, Reply, Send, WriteDecision, WriteOutcome
from control.events import FaultReported, Graded, GradeFailed, Tick
from control.run_state import RunState
from tests.control.machine_fixtures import (
    NOW,
    evaluation,
    feed,
    night,
    of,
    phase_end,
    phase_start,
    skipped,
    step,
    where,
)
from training.events import Fault

# The demo's shape: the foundation trains at a higher peak LR than the specialists' default.
FOUNDATION_LR = {"training": {"learning_rate": 2e-3}, "foundation": {"learning_rate": 3e-3}}


def oom(name: str, phase: str, at_step: int, now: float = NOW) -> FaultReported:
    fault = Fault(**where(name, phase, step=at_step, time=now), fault="oom", values={}, micro_batch=8,
                  grad_accum=1, message="simulated out of memory")
    return FaultReported(now, name, fault)


def non_finite(name: str, phase: str, at_step: int, now: float = NOW) -> FaultReported:
    fault = Fault(**where(name, phase, step=at_step, time=now), fault="non_finite",
                  values={"loss": float("nan"), "grad_norm": 1.0}, micro_batch=8, grad_accum=1, message="nan")
    return FaultReported(now, name, fault)


def test_a_shrink_at_the_foundations_first_step_keeps_its_peak_lr() -> None:
    # Issue 15: before the first step event the supervisor guessed the LR from training.learning_rate
    # (2e-3) and the shrink's "set both after a rollback" reset the foundation's 3e-3 to it.
    state = night(FOUNDATION_LR)
    effects = feed(state, Tick(NOW), phase_start("foundation", "general", peak_lr=3e-3), oom("foundation",
                   "general", 1))
    [decision] = of(effects, WriteDecision)
    assert decision.record.action == "shrink_batch"
    assert decision.record.params_before.peak_lr == decision.record.params_after.peak_lr == 3e-3
    [reply] = of(effects, Reply)
    assert reply.value["fault_action"] == "rollback"
    commands = {c["name"]: c for c in reply.value["commands"]}
    assert commands["set_lr"]["peak_lr"] == 3e-3
    assert (commands["set_batch"]["micro_batch"], commands["set_batch"]["grad_accum"]) == (4, 2)


def test_after_a_restart_the_peak_lr_is_the_saved_one_not_the_last_steps_scheduled_lr() -> None:
    first = night(FOUNDATION_LR)
    feed(first, Tick(NOW), phase_start("foundation", "general", peak_lr=3e-3),
         step("foundation", "general", 1, peak_lr=3e-3, lr=1.5e-4))
    restored = RunState.model_validate(first.run.model_dump(mode="json"))
    saved = restored.specialists["foundation"]
    assert (saved.lr, saved.peak_lr) == (1.5e-4, 3e-3)
    second = night(FOUNDATION_LR, restored=restored)
    [decision] = of(feed(second, oom("foundation", "general", 2, NOW + 5)), WriteDecision)
    assert decision.record.params_before.peak_lr == 3e-3


def test_before_the_trainer_reports_its_phase_the_configured_phase_parameters_hold() -> None:
    limits = {"policies": {"stall_seconds": 60.0}, "supervisor": {"startup_grace_s": 60.0}}
    state = night({**FOUNDATION_LR, **limits})
    feed(state, Tick(NOW))
    [decision] = of(feed(state, Tick(NOW + 60)), WriteDecision)
    assert decision.record.trigger.kind == "stall" and decision.record.params_before.peak_lr == 3e-3


def test_a_non_finite_step_rolls_back_within_the_step_with_the_decisions_parameters() -> None:
    state = night()
    nan = non_finite("foundation", "general", 3)
    effects = feed(state, Tick(NOW), phase_start("foundation", "general"), nan)
    [decision] = of(effects, WriteDecision)
    assert (decision.record.action, decision.record.checkpoint) == ("rollback", "last_good")
    [reply] = of(effects, Reply)
    assert reply.value["fault_action"] == "rollback"
    assert [c["name"] for c in reply.value["commands"]] == ["set_lr", "set_batch"]
    # After a rollback both are sent: the restored checkpoint may hold values from before earlier decisions.
    assert reply.value["commands"][0]["peak_lr"] == decision.record.params_after.peak_lr
    [line] = [e.line for e in of(effects, AppendEvent) if e.line["type"] == "fault"]
    assert line["decision_id"] == decision.record.decision_id
    [outcome] = of(effects, WriteOutcome)
    assert outcome.detail.startswith("trainer told to rollback")
    # A retried call (the trainer's link retried it) gets the same answer and writes nothing again.
    again = feed(state, nan)
    assert of(again, Reply) == [reply] and not of(again, WriteDecision) and not of(again, AppendEvent)


def test_spikes_within_the_window_halve_the_lr_and_the_decision_is_written_before_the_command() -> None:
    state = night()
    feed(state, Tick(NOW), phase_start("foundation", "general"))
    effects = feed(state, skipped("foundation", "general", 1), skipped("foundation", "general", 2))
    assert not of(effects, WriteDecision)
    effects = feed(state, skipped("foundation", "general", 3))
    acting = [e for e in effects if isinstance(e, WriteDecision | Send | WriteOutcome)]
    assert [type(e) for e in acting] == [WriteDecision, Send, WriteOutcome]
    assert acting[0].record.action == "halve_lr"  # type: ignore[union-attr]
    assert acting[1].command.name == "set_lr" and acting[1].command.peak_lr == 1.5e-3  # type: ignore[union-attr]


def test_a_sustained_loss_rise_is_divergence_and_rolls_back() -> None:
    state = night({"supervisor": {"divergence_min_steps": 10}, "policies": {"divergence_k": 3.0}})
    feed(state, Tick(NOW), phase_start("foundation", "general"))
    losses = [1.0] * 16 + [3.5] * 8
    steps = [step("foundation", "general", n, loss, NOW + n) for n, loss in enumerate(losses, start=1)]
    effects = feed(state, *steps)
    [decision] = of(effects, WriteDecision)
    # Means of 8: at step 22 (1, 1, 3.5 x 6) = 2.875 is under 3 x 1.0; at step 23 (1, 3.5 x 7) = 3.19 is over.
    assert (decision.record.trigger.kind, decision.record.step) == ("divergence", 23)
    assert "rollback" in [e.command.name for e in of(effects, Send)]


def test_a_due_evaluation_is_graded_and_the_grade_applied_while_the_phase_runs() -> None:
    state = night({"watchdog": {"every_epochs": 1}})
    feed(state, Tick(NOW), phase_start("foundation", "general"), step("foundation", "general", 1))
    effects = feed(state, evaluation("foundation", "general", 0, NOW + 1))
    [request] = of(effects, GradeWindow)
    assert state.pending_grades == 1 and request.window.evidence is not None
    grade = grade_with_rubric(request.window)
    effects = feed(state, Graded(NOW + 2, "foundation", grade, request.window, False, 0))
    [decision] = of(effects, WriteDecision)
    assert decision.record.trigger.kind == "grade" and decision.record.grade_source == "rubric"
    assert state.pending_grades == 0 and state.run.specialists["foundation"].last_grade is not None


def test_a_grade_landing_after_its_phase_ended_is_recorded_but_not_applied() -> None:
    state = night({"watchdog": {"every_epochs": 1}})
    feed(state, Tick(NOW), phase_start("foundation", "general"), step("foundation", "general", 1))
    [request] = of(feed(state, evaluation("foundation", "general", 0, NOW + 1)), GradeWindow)
    feed(state, phase_end("foundation", "general", now=NOW + 2))
    effects = feed(state, Graded(NOW + 3, "foundation", grade_with_rubric(request.window), request.window,
                                 False, 0))
    [outcome] = of(effects, WriteOutcome)
    assert outcome.detail.startswith("not applied") and not of(effects, Send)
    assert state.book.interventions("foundation") == 0


def test_a_watchdog_failure_leaves_the_window_ungraded_and_the_night_able_to_end() -> None:
    state = night({"watchdog": {"every_epochs": 1}})
    feed(state, Tick(NOW), phase_start("foundation", "general"), evaluation("foundation", "general", 0))
    assert state.pending_grades == 1
    feed(state, GradeFailed(NOW + 1, "foundation"))
    assert state.pending_grades == 0 and not state.book.records
