"""A user's controls of a running night (`overnight ctl`): pause, resume, stop or skip one specialist, or
stop the whole run. Each is a decision in the log, logged as itself, taken once per request id."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from control.control_file import STOP_RUN, ControlRequest, ControlRequestError
from control.run_state import TERMINAL_STATES
from policies.decisions import Action, Trigger

if TYPE_CHECKING:
    from actors.supervisor import Supervisor

ACTIONS = {
    "pause": Action.PAUSE,
    "resume": Action.RESUME,
    "stop": Action.ABORT_SPECIALIST,
    "skip": Action.SKIP_PHASE,
}
RUN_SPECIALIST = "run"
"""The log's specialist column for a control of the whole run."""


class UserControls:
    """Applies controls to the supervisor's state and trainers; called from any thread."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def apply(self, request: ControlRequest) -> dict[str, Any]:
        """A request from the control file: the answer `overnight ctl` prints."""
        if request.action == STOP_RUN:
            return self.stop_run(request.id)
        assert request.specialist is not None  # ControlRequest.new requires one for these
        record = self.control(request.specialist, request.action, request_id=request.id)
        return {"decision_id": record["decision_id"], "action": record["action"], "reason": record["reason"]}

    def control(self, specialist: str, action: str, request_id: str | None = None) -> dict[str, Any]:
        """pause | resume | stop | skip one specialist; the logged decision record. Raises
        ControlRequestError (a ValueError) when the control cannot be applied; nothing is logged then."""
        sup = self.supervisor
        with sup.lock:
            state = sup.state
            if specialist not in state.specialists:
                known = ", ".join(state.specialists)
                message = f"no specialist {specialist!r} in run {state.run!r}; known: {known}"
                raise ControlRequestError(message)
            if action not in ACTIONS:
                raise ControlRequestError(f"unknown control {action!r}; use pause, resume, stop or skip")
            # A request id names one request: seen again (a restarted supervisor), it is answered, not redone.
            key = ("control", request_id) if request_id else ("control", action, time.time())
            decision_id, known_decision = sup.book.known(specialist, key)
            if known_decision is not None:
                return sup.book.records[decision_id].model_dump(mode="json")
            spec = sup.state.specialists[specialist]
            if spec.state in TERMINAL_STATES:
                raise ControlRequestError(f"{specialist} is already {spec.state}; nothing to {action}")
            trigger = Trigger.control(
                requested=ACTIONS[action],
                detail=f"overnight ctl, request {request_id}" if request_id else "user",
                step=spec.step,
                epoch=spec.epoch,
            )
            reason = f"user asked to {action} {specialist}: {_effect(action, spec.phase)}"
            phase = spec.phase or "main"
            decision_id = sup.log_fact(specialist, phase, trigger, ACTIONS[action], reason, key)
            self._act(specialist, action)
            sup.book.outcome(decision_id, True, f"{action} sent to trainer:{specialist}")
            sup.save()
            return sup.book.records[decision_id].model_dump(mode="json")

    def _act(self, specialist: str, action: str) -> None:
        sup = self.supervisor
        spec = sup.state.specialists[specialist]
        started = spec.started_at is not None
        if action == "pause":
            if started:
                sup.workers.send(specialist, {"name": "pause", "reason": "user pause"})
            spec.state = "paused"
        elif action == "resume":
            if started:
                sup.workers.send(specialist, {"name": "resume"})
                spec.last_heartbeat = time.time()
            # One paused before its turn goes back to waiting for it.
            spec.state = "running" if started else "pending"
        elif action == "stop" and not started:
            sup._set_terminal(specialist, "stopped", "stopped by the user before it started")
        elif action == "stop":
            sup.workers.send(specialist, {"name": "resume"})
            sup.workers.send(specialist, {"name": "stop", "reason": "user stop"})
            spec.reason = "stopped by the user"
        else:
            sup.workers.send(specialist, {"name": "skip_phase", "reason": "user skip"})

    def stop_run(self, request_id: str) -> dict[str, Any]:
        """End the run: stop every specialist still going, stop watching the inbox; the loop then finishes
        the run (report written) once every trainer has ended."""
        sup = self.supervisor
        with sup.lock:
            key = ("control", request_id)
            decision_id, known_decision = sup.book.known(RUN_SPECIALIST, key)
            if known_decision is not None:
                record = sup.book.records[decision_id]
                return {"decision_id": decision_id, "action": record.action.value, "reason": record.reason}
            state = sup.state
            if state.status != "running":
                raise ControlRequestError(f"run {state.run!r} is already {state.status}; nothing to stop")
            going = [name for name, spec in state.specialists.items() if spec.state not in TERMINAL_STATES]
            stopping = f"stop {', '.join(going)}" if going else "no specialist is still going"
            watching = " and stop watching the inbox" if state.watch else ""
            reason = (
                f"user asked to stop run {state.run}: {stopping}{watching}; "
                "the report is written when the trainers have ended"
            )
            detail = f"overnight ctl, request {request_id}"
            trigger = Trigger.control(requested=Action.STOP_RUN, detail=detail)
            decision_id = sup.log_fact(RUN_SPECIALIST, "run", trigger, Action.STOP_RUN, reason, key)
            state.watch = False
            for name in going:
                self.control(name, "stop", request_id=f"{request_id}:{name}")
            sup.book.outcome(decision_id, True, f"stop sent to {len(going)} specialist(s); watching ended")
            sup.save()
            return {"decision_id": decision_id, "action": Action.STOP_RUN.value, "reason": reason}


def _effect(action: str, phase: str | None) -> str:
    """What the control does, in words, for the decision's reason."""
    return {
        "pause": "a checkpoint is saved and the trainer waits for `overnight ctl resume`",
        "resume": "training goes on from where it paused",
        "stop": "it saves a checkpoint and ends (state stopped); the rest of the run goes on",
        "skip": f"phase {phase or '(not started)'} is abandoned; the next phase starts",
    }[action]
