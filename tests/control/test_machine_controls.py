"""A user's controls as pure transitions: each a decision before its command, once per request id; a
refused one raises before anything changes; stop-run stops every specialist still going."""

from __future__ import annotations

import pytest

from control.control_file import ControlRequestError
from control.effects import Reply, Send, WriteDecision, WriteOutcome
from control.events import ControlRequested, StopRunRequested, Tick
from control.machine import transition
from tests.control.machine_fixtures import NOW, feed, night, of


def ctl(name: str, action: str, request: str | None = None, now: float = NOW) -> ControlRequested:
    return ControlRequested(now, name, action, request)


def test_pause_and_resume_steer_a_running_trainer_after_the_decision_is_written() -> None:
    state = night()
    feed(state, Tick(NOW))
    effects = feed(state, ctl("foundation", "pause", "r1"))
    assert [type(e) for e in effects if not isinstance(e, Reply)][:3] == [WriteDecision, Send, WriteOutcome]
    assert state.run.specialists["foundation"].state == "paused"
    effects = feed(state, ctl("foundation", "resume", "r2", NOW + 5))
    assert [e.command.name for e in of(effects, Send)] == ["resume"]
    spec = state.run.specialists["foundation"]
    assert (spec.state, spec.last_heartbeat) == ("running", NOW + 5)
    [reply] = of(effects, Reply)
    assert reply.value["outcome"]["detail"] == "resume sent to trainer:foundation"


def test_one_paused_before_its_turn_goes_back_to_waiting_and_nothing_is_sent() -> None:
    state = night()
    feed(state, Tick(NOW))
    effects = feed(state, ctl("ascii", "pause"), ctl("ascii", "resume", now=NOW + 1))
    assert not of(effects, Send) and state.run.specialists["ascii"].state == "pending"


def test_a_request_seen_again_is_answered_not_redone() -> None:
    state = night()
    feed(state, Tick(NOW))
    first = of(feed(state, ctl("foundation", "skip", "r1")), Reply)
    again = feed(state, ctl("foundation", "skip", "r1", NOW + 1))
    assert of(again, Reply) == first and not of(again, Send) and not of(again, WriteDecision)


@pytest.mark.parametrize(
    ("name", "action", "message"),
    [
        ("nobody", "pause", "no specialist 'nobody' in run 'machine'; known: foundation, ascii, runic"),
        ("ascii", "rewind", "unknown control 'rewind'; use pause, resume, stop or skip"),
        ("foundation", "stop", "foundation is already finished; nothing to stop"),
    ],
)
def test_a_refused_control_raises_and_changes_nothing(name: str, action: str, message: str) -> None:
    state = night()
    state.run.specialists["foundation"].state = "finished"
    before = state.run.model_dump()
    with pytest.raises(ControlRequestError, match=message):
        transition(state, ctl(name, action, "r1"))
    assert state.run.model_dump() == before and not state.book.records


def test_stop_before_the_start_ends_it_and_user_controls_spend_no_budget() -> None:
    state = night()
    feed(state, Tick(NOW))
    effects = feed(state, ctl("ascii", "stop", "r1"))
    assert not of(effects, Send)
    spec = state.run.specialists["ascii"]
    assert (spec.state, spec.reason) == ("stopped", "stopped by the user before it started")
    assert state.book.interventions("ascii") == 0


def test_stop_run_stops_every_specialist_still_going_and_the_inbox() -> None:
    state = night()
    feed(state, Tick(NOW))
    state.run.watch = True
    effects = feed(state, StopRunRequested(NOW + 1, "r9"))
    assert [(e.specialist, e.command.name) for e in of(effects, Send)] == [
        ("foundation", "resume"), ("foundation", "stop"),
    ]  # fmt: skip
    assert state.run.watch is False
    assert {n: s.state for n, s in state.run.specialists.items()} == {
        "foundation": "running", "ascii": "stopped", "runic": "stopped",
    }  # fmt: skip
    actions = [e.record.action for e in of(effects, WriteDecision)]
    assert actions == ["stop_run", "abort_specialist", "abort_specialist", "abort_specialist"]
    state.run.status = "finished"
    with pytest.raises(ControlRequestError, match="run 'machine' is already finished; nothing to stop"):
        transition(state, StopRunRequested(NOW + 2, "r10"))
