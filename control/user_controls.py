"""A user's controls of a running night (`overnight ctl`) as transitions: pause, resume, stop or skip one
specialist, or stop the whole run. Each is a decision in the log, logged as itself, taken once per request
id; one that cannot be applied raises ControlRequestError before anything changes."""

from __future__ import annotations

from typing import Any

from control.commands import TrainerCommand
from control.control_file import ControlRequestError
from control.effects import Reply
from control.events import ControlRequested, StopRunRequested
from control.night import Turn
from control.run_state import TERMINAL_STATES
from policies.decisions import Action, Trigger

ACTIONS = {
    "pause": Action.PAUSE,
    "resume": Action.RESUME,
    "stop": Action.ABORT_SPECIALIST,
    "skip": Action.SKIP_PHASE,
}
RUN_SPECIALIST = "run"
"""The log's specialist column for a control of the whole run."""


def on_control(turn: Turn, event: ControlRequested) -> None:
    """pause | resume | stop | skip one specialist; replies with the logged decision record."""
    turn.emit(Reply(control(turn, event.specialist, event.action, event.request_id)))


def control(turn: Turn, specialist: str, action: str, request_id: str | None) -> dict[str, Any]:
    run, book = turn.night.run, turn.night.book
    if specialist not in run.specialists:
        known = ", ".join(run.specialists)
        raise ControlRequestError(f"no specialist {specialist!r} in run {run.run!r}; known: {known}")
    if action not in ACTIONS:
        raise ControlRequestError(f"unknown control {action!r}; use pause, resume, stop or skip")
    # A request id names one request: seen again (a restarted supervisor), it is answered, not redone.
    key = ("control", request_id) if request_id else ("control", action, turn.now)
    decision_id, known_decision = book.known(specialist, key)
    if known_decision is not None:
        return book.records[decision_id].model_dump(mode="json")
    spec = run.specialists[specialist]
    if spec.state in TERMINAL_STATES:
        raise ControlRequestError(f"{specialist} is already {spec.state}; nothing to {action}")
    detail = f"overnight ctl, request {request_id}" if request_id else "user"
    trigger = Trigger.control(requested=ACTIONS[action], detail=detail, step=spec.step, epoch=spec.epoch)
    reason = f"user asked to {action} {specialist}: {_effect(action, spec.phase)}"
    decision_id, _ = turn.fact(specialist, spec.phase or "main", trigger, ACTIONS[action], reason, key)
    _act(turn, specialist, action)
    turn.outcome(decision_id, True, f"{action} sent to trainer:{specialist}")
    turn.save()
    return book.records[decision_id].model_dump(mode="json")


def _act(turn: Turn, name: str, action: str) -> None:
    spec = turn.spec(name)
    started = spec.started_at is not None
    if action == "pause":
        if started:
            turn.send(name, TrainerCommand(name="pause", reason="user pause"))
        turn.move(name, "paused")
    elif action == "resume":
        if started:
            turn.send(name, TrainerCommand(name="resume"))
            spec.last_heartbeat = turn.now
        # One paused before its turn goes back to waiting for it.
        turn.move(name, "running" if started else "pending")
    elif action == "stop" and not started:
        turn.end(name, "stopped", "stopped by the user before it started")
    elif action == "stop":
        turn.send(name, TrainerCommand(name="resume"))
        turn.send(name, TrainerCommand(name="stop", reason="user stop"))
        spec.reason = "stopped by the user"
    else:
        turn.send(name, TrainerCommand(name="skip_phase", reason="user skip"))


def on_stop_run(turn: Turn, event: StopRunRequested) -> None:
    """End the run: stop every specialist still going and stop watching the inbox; the loop then finishes
    the run (report written) once every trainer has ended."""
    run, book = turn.night.run, turn.night.book
    key = ("control", event.request_id)
    decision_id, known = book.known(RUN_SPECIALIST, key)
    if known is not None:
        record = book.records[decision_id]
        turn.emit(Reply({"decision_id": decision_id, "action": record.action.value, "reason": record.reason}))
        return
    if run.status != "running":
        raise ControlRequestError(f"run {run.run!r} is already {run.status}; nothing to stop")
    going = [name for name, spec in run.specialists.items() if spec.state not in TERMINAL_STATES]
    stopping = f"stop {', '.join(going)}" if going else "no specialist is still going"
    watching = " and stop watching the inbox" if run.watch else ""
    reason = (
        f"user asked to stop run {run.run}: {stopping}{watching}; "
        "the report is written when the trainers have ended"
    )
    trigger = Trigger.control(requested=Action.STOP_RUN, detail=f"overnight ctl, request {event.request_id}")
    decision_id, _ = turn.fact(RUN_SPECIALIST, "run", trigger, Action.STOP_RUN, reason, key)
    run.watch = False
    for name in going:
        control(turn, name, "stop", request_id=f"{event.request_id}:{name}")
    turn.outcome(decision_id, True, f"stop sent to {len(going)} specialist(s); watching ended")
    turn.save()
    turn.emit(Reply({"decision_id": decision_id, "action": Action.STOP_RUN.value, "reason": reason}))


def _effect(action: str, phase: str | None) -> str:
    """What the control does, in words, for the decision's reason."""
    return {
        "pause": "a checkpoint is saved and the trainer waits for `overnight ctl resume`",
        "resume": "training goes on from where it paused",
        "stop": "it saves a checkpoint and ends (state stopped); the rest of the run goes on",
        "skip": f"phase {phase or '(not started)'} is abandoned; the next phase starts",
    }[action]
