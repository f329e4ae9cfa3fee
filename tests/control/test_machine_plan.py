"""The night's plan as pure transitions: scheduling, stalls, crashes and their bounds, the plan's end, and a
restarted supervisor re-attaching. No Ray, no threads: events in, state and effects out."""

from __future__ import annotations

import pytest

from control.effects import (
    KillTrainer,
    RestartTrainer,
    SaveState,
    StartTrainer,
    WriteDecision,
    WriteOutcome,
    WriteReport,
)
from control.events import ActorStarted, Start, Tick, TrainerDone
from control.night import IllegalMove, Turn
from tests.control.machine_fixtures import NOW, feed, finished, night, of, phase_start

STALL_S = 60.0
GRACE_S = 300.0


def states(state) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {name: spec.state for name, spec in state.run.specialists.items()}


def test_the_foundation_trains_first_and_alone() -> None:
    state = night()
    effects = feed(state, Tick(NOW), Tick(NOW + 1))
    assert [e.specialist for e in of(effects, StartTrainer)] == ["foundation"]
    assert states(state) == {"foundation": "running", "ascii": "pending", "runic": "pending"}
    assert state.run.specialists["foundation"].started_at == NOW


@pytest.mark.parametrize(("parallel", "started"), [(True, ["ascii", "runic"]), (False, ["ascii"])])
def test_after_the_foundation_the_specialists_start_in_parallel_or_one_by_one(
    parallel: bool, started: list[str]
) -> None:
    state = night({"supervisor": {"parallel_specialists": parallel}})
    effects = feed(state, Tick(NOW), finished("foundation", NOW + 1), Tick(NOW + 2))
    assert [e.specialist for e in of(effects, StartTrainer)] == ["foundation", *started]
    if not parallel:
        effects = feed(state, finished("ascii", NOW + 3), Tick(NOW + 4))
        assert [e.specialist for e in of(effects, StartTrainer)] == ["runic"]


def test_a_failed_foundation_aborts_the_specialists_waiting_for_it() -> None:
    state = night()
    feed(state, Tick(NOW), finished("foundation", NOW + 1, status="faulted"), Tick(NOW + 2))
    assert states(state) == {"foundation": "aborted", "ascii": "aborted", "runic": "aborted"}
    assert state.run.specialists["ascii"].reason == "the foundation ended aborted"


@pytest.mark.parametrize(("silence", "stalled"), [(STALL_S - 0.001, False), (STALL_S, True)])
def test_silence_of_stall_seconds_restarts_the_trainer_after_writing_the_decision(
    silence: float, stalled: bool
) -> None:
    state = night({"policies": {"stall_seconds": STALL_S}})
    feed(state, Tick(NOW), phase_start("foundation", "general", NOW + 1))
    effects = feed(state, Tick(NOW + 1 + silence))
    assert bool(of(effects, RestartTrainer)) is stalled
    if stalled:
        kinds = [type(e) for e in effects if isinstance(e, WriteDecision | RestartTrainer | WriteOutcome)]
        assert kinds == [WriteDecision, RestartTrainer, WriteOutcome]
        assert "foundation" in state.expected_restarts
        # Its new process is expected: no crash decision when it comes up.
        assert not of(feed(state, ActorStarted(NOW + 70, "foundation", 2)), WriteDecision)


def test_a_trainer_still_starting_gets_its_grace_before_silence_counts() -> None:
    state = night({"policies": {"stall_seconds": STALL_S}, "supervisor": {"startup_grace_s": GRACE_S}})
    feed(state, Tick(NOW))
    assert not of(feed(state, Tick(NOW + GRACE_S - 0.001)), RestartTrainer)
    assert of(feed(state, Tick(NOW + GRACE_S)), RestartTrainer)


def test_crashes_restart_within_max_crash_restarts_then_the_specialist_is_aborted() -> None:
    state = night({"policies": {"max_crash_restarts": 2}})
    feed(state, Tick(NOW))
    for restart in (1, 2):
        effects = feed(state, TrainerDone(NOW + restart, "foundation", ok=False, error=f"boom {restart}"))
        assert not of(effects, StartTrainer), "the crashed train() is still returning: start on the tick"
        assert state.run.specialists["foundation"].crash_restarts == restart
        assert [e.specialist for e in of(feed(state, Tick(NOW + restart)), StartTrainer)] == ["foundation"]
    effects = feed(state, TrainerDone(NOW + 3, "foundation", ok=False, error="boom 3"))
    assert of(effects, KillTrainer) and states(state)["foundation"] == "aborted"
    assert [e.record.action for e in of(effects, WriteDecision)] == ["abort_specialist"]


def test_a_process_nobody_restarted_is_a_crash_the_policies_judge() -> None:
    state = night()
    feed(state, Tick(NOW), ActorStarted(NOW + 1, "foundation", 100))
    assert not state.book.records, "the first process is no crash"
    effects = feed(state, ActorStarted(NOW + 2, "foundation", 101))
    [decision] = of(effects, WriteDecision)
    assert (decision.record.trigger.kind, decision.record.action) == ("crash", "restart_trainer")
    assert state.run.specialists["foundation"].crash_restarts == 1


def test_the_plan_ends_with_the_state_saved_before_the_report() -> None:
    state = night()
    feed(state, Tick(NOW), finished("foundation", NOW + 1), Tick(NOW + 2))
    feed(state, finished("ascii", NOW + 3), finished("runic", NOW + 3))
    state.pending_grades = 1
    assert not of(feed(state, Tick(NOW + 4)), WriteReport), "a grade in flight holds the end"
    state.pending_grades = 0
    effects = feed(state, Tick(NOW + 5))
    assert state.run.status == "finished" and state.run.finished_at == NOW + 5
    kinds = [type(e) for e in effects if isinstance(e, SaveState | WriteReport)]
    assert kinds[:2] == [SaveState, WriteReport]


def test_in_watch_mode_the_plan_ends_into_watching() -> None:
    state = night()
    feed(state, Start(NOW, watch=True), Tick(NOW), finished("foundation", NOW + 1), Tick(NOW + 2))
    feed(state, finished("ascii", NOW + 3), finished("runic", NOW + 3))
    effects = feed(state, Tick(NOW + 4))
    assert (state.run.status, state.run.plan_done_at) == ("running", NOW + 4)
    assert of(effects, WriteReport) and not of(feed(state, Tick(NOW + 5)), WriteReport)


def test_a_restarted_supervisor_reattaches_to_what_was_running() -> None:
    first = night()
    feed(first, Tick(NOW), finished("foundation", NOW + 1), Tick(NOW + 2), ActorStarted(NOW + 2, "ascii", 7))
    first.run.specialists["runic"].state = "paused"  # paused by the user before the restart
    restored = first.run.model_copy(deep=True)
    second = night(restored=restored)
    effects = feed(second, Start(NOW + 10, alive=frozenset({"ascii"})))
    assert [e.specialist for e in of(effects, StartTrainer)] == ["ascii", "runic"]
    assert second.expected_restarts == {"runic"}, "only a trainer missing from the cluster is a new process"
    # The live trainer's process is the same one: no crash.
    assert not of(feed(second, ActorStarted(NOW + 11, "ascii", 7)), WriteDecision)
    assert not of(feed(second, Start(NOW + 12, attach=False)), StartTrainer)


def test_a_finished_specialist_cannot_go_back_to_pending() -> None:
    state = night()
    feed(state, Tick(NOW), finished("foundation", NOW + 1))
    with pytest.raises(IllegalMove, match="foundation: finished -> pending is not an allowed move"):
        Turn(state, NOW).move("foundation", "pending")


def test_a_late_decision_about_an_ended_specialist_leaves_its_ending_alone() -> None:
    # Reports are not ordered with train()'s end: a step's divergence may be decided after it finished.
    state = night()
    feed(state, Tick(NOW), finished("foundation", NOW + 1))
    Turn(state, NOW + 2).end("foundation", "aborted", "a late abort")
    spec = state.run.specialists["foundation"]
    assert (spec.state, spec.finished_at, spec.reason) == ("finished", NOW + 1, "training completed")
