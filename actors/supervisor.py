"""The supervisor: thin public methods that turn calls into typed events, the pure machine
(control/machine.py) that decides, and the one executor here that carries out its effects in order.

Hard state is on disk (run_state.json, decisions.jsonl, events/), so a restarted supervisor continues.
Every decision is written to the log before the effects that act on it, and its outcome after.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import structlog
from pydantic import TypeAdapter

from actors.control_watcher import ControlWatcher
from actors.night_metrics import NightMetrics
from agents.grade import Grade
from control import effects as fx
from control import events as ev
from control.control_file import STOP_RUN, ControlRequest
from control.decision_book import DecisionBook
from control.inbox import IntakeRules, arrivals, assess, carry_out, finish_file, make_inbox
from control.job_queue import locked_queue, queue_rows, read_queue
from control.machine import transition
from control.night import Night, new_night
from control.promotion import best_of_phase, promote
from control.run_files import DECISIONS_FILE, read_promoted
from control.run_state import RunState, load_run_state, save_run_state
from control.telemetry import append_event
from policies.decision_log import append_outcome, append_record
from report.notify import Notifier
from settings.run import RunConfig
from training.events import Fault, TrainingEvent

log = structlog.get_logger(__name__)
TRAINING_EVENT: TypeAdapter[TrainingEvent] = TypeAdapter(TrainingEvent)


class Workers(Protocol):
    """The supervisor's reach into the cluster; Ray actors in production (actors/remote.py)."""

    def start(self, specialist: str, job: dict[str, Any] | None = None) -> None:
        """Create the trainer (if missing) and call its train(job); job None trains the night's phases."""

    def exists(self, specialist: str) -> bool:
        """Whether the trainer's actor is alive in the cluster (re-attaching after a restart or a rerun)."""

    def send(self, specialist: str, command: dict[str, Any]) -> None:
        """Deliver a TrainerCommand."""

    def restart(self, specialist: str) -> None:
        """Kill the trainer's process; Ray restarts it and its train() resumes from its checkpoint."""

    def kill(self, specialist: str) -> None:
        """Stop the trainer for good."""

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        """The watchdog's grade of a window."""

    def lost(self) -> list[tuple[str, str]]:
        """Trainers whose train() ended without reporting (their actor died for good), with the error."""

    def promoted(self, specialist: str) -> None:
        """A better checkpoint of `specialist` was promoted: a running router swaps that adapter."""


class Supervisor:
    """Plain class; actors/remote.py makes it the named, restartable `supervisor` actor."""

    def __init__(self, config: RunConfig, run_dir: str, config_path: str, workers: Workers) -> None:
        self.config = config  # validated once, by the driver; Ray hands the object over as it is
        self.run_dir = Path(run_dir)
        self.workers = workers
        self.log_path = self.run_dir / DECISIONS_FILE
        # One event at a time through the machine; grades wait for the watchdog off this lock.
        self.lock = threading.RLock()
        self.grading_lock = threading.Lock()
        self.stop_loop = threading.Event()
        self.loop_thread: threading.Thread | None = None
        (self.run_dir / "events").mkdir(parents=True, exist_ok=True)
        restored = load_run_state(self.run_dir)
        self.resumed = restored is not None
        book = DecisionBook.read(self.log_path, self.config.run.name if restored is None else restored.run)
        self.night: Night = new_night(self.config, config_path, restored, book, time.time())
        self.night.run.supervisor_pid = os.getpid()
        save_run_state(self.run_dir, self.night.run)
        self.inbox_root = self.config.inbox.root(self.run_dir)
        self.intake_rules = IntakeRules(
            specialists=tuple(self.config.specialists), epochs=self.config.inbox.epochs,
            val_fraction=self.config.inbox.val_fraction, seed=self.config.run.seed,
        )  # fmt: skip
        # `overnight ctl` writes requests into the run dir; this thread applies them and stamps a heartbeat.
        self.control_watcher = ControlWatcher(
            self.run_dir, self.state.run, self.apply_request, self.stop_loop
        )
        self.notifier = Notifier(self.config.notify, self.run_dir)
        self.night_metrics = NightMetrics(self.run_dir, self.config.grader.llm.budget_usd)
        log.info("supervisor ready", run=self.state.run, resumed=self.resumed, decisions=len(book))

    @property
    def state(self) -> RunState:
        """The run's state as run_state.json holds it."""
        return self.night.run

    # ------------------------------------------------------------------------ the public methods

    def start(self, watch: bool = False) -> dict[str, Any]:
        """Start (or, after a restart, continue) the night; `watch` keeps it up for the inbox. Idempotent."""
        with self.lock:
            attach = self.loop_thread is None or not self.loop_thread.is_alive()
            alive = frozenset(
                n
                for n, s in self.state.specialists.items()
                if attach and s.state in ("running", "paused") and self.workers.exists(n)
            )
            queue = read_queue(self.run_dir) if attach and self.night.needs_queue() else None
            self._handle(ev.Start(time.time(), watch=watch, attach=attach, alive=alive, queue=queue))
            if attach:
                self.loop_thread = threading.Thread(target=self._loop, name="supervisor-loop", daemon=True)
                self.loop_thread.start()
            self.control_watcher.start()
        return self.status()

    def report(self, specialist: str, event: dict[str, Any]) -> None:
        """A trainer's event (fire-and-forget for the trainer); "actor_started" is its process coming up."""
        now = time.time()
        if event.get("kind") == "actor_started":
            typed: ev.SupervisorEvent = ev.ActorStarted(now, specialist, int(event["pid"]))
        else:
            self.night_metrics.on_event(specialist, event)
            typed = ev.Reported(now, specialist, TRAINING_EVENT.validate_python(event))
        with self.lock:
            self._handle(typed)

    def decide_fault(self, specialist: str, fault: dict[str, Any]) -> dict[str, Any]:
        """A hard fault at a step: decided within the step. A retried call gets the same decision back."""
        with self.lock:
            return self._reply(ev.FaultReported(time.time(), specialist, Fault.model_validate(fault)))

    def trainer_done(self, specialist: str, outcome: dict[str, Any]) -> None:
        """A train() call ended: finished, stopped, or raised (a crash the policies may restart)."""
        event = ev.TrainerDone(
            time.time(),
            specialist,
            ok=bool(outcome["ok"]),
            result=outcome.get("result"),
            error=str(outcome.get("error", "")),
            job=outcome.get("job"),
        )
        with self.lock:
            self._handle(event)

    def control(self, specialist: str, action: str, request_id: str | None = None) -> dict[str, Any]:
        """pause | resume | stop | skip (`overnight ctl`): the logged decision record. Raises
        ControlRequestError (a ValueError) when the control cannot be applied; nothing is logged then."""
        with self.lock:
            return self._reply(ev.ControlRequested(time.time(), specialist, action, request_id))

    def apply_request(self, request: ControlRequest) -> dict[str, Any]:
        """A request from the control file: the answer `overnight ctl` prints."""
        if request.action == STOP_RUN:
            with self.lock:
                return self._reply(ev.StopRunRequested(time.time(), request.id))
        assert request.specialist is not None  # ControlRequest.new requires one for these
        record = self.control(request.specialist, request.action, request_id=request.id)
        return {"decision_id": record["decision_id"], "action": record["action"], "reason": record["reason"]}

    def status(self) -> dict[str, Any]:
        """The run state, as `overnight status` shows it."""
        with self.lock:
            state = self.state.model_dump(mode="json")
        try:
            state["queue"] = queue_rows(self.run_dir)
        except RuntimeError as err:
            state["queue"], state["queue_error"] = [], str(err)
        return state

    def pid(self) -> int:
        """The supervisor's process id (the chaos tests kill it)."""
        return os.getpid()

    def shutdown(self) -> None:
        """Stop the loop thread (the driver calls this before killing the actor)."""
        self.stop_loop.set()

    def promote_job(
        self, name: str, job_id: str, checkpoint: str, exact_match: float | None, base_dir: str | None
    ) -> bool:
        """Serve a job's checkpoint (the regression guard let it through); True when promoted.json changed.
        `base_dir` is the base the job trained on (the promoted checkpoint's), else the one the checkpoint
        records."""
        result = {"best_checkpoint": checkpoint, "best_exact_match": exact_match, "phase": job_id}
        return self._promote(name, result, Path(base_dir) if base_dir else None, guarded=True)

    # --------------------------------------------------------------------------------- the loop

    def _loop(self) -> None:
        while not self.stop_loop.wait(self.config.supervisor.poll_interval_s):
            try:
                self._tick()
            except Exception:
                log.exception("supervisor tick failed; continuing")
            if self.state.status != "running":
                return

    def _tick(self) -> None:
        """One beat: with the queue's lock when the night runs a queue (inbox files are taken in first)."""
        with self.lock:
            lost = tuple(self.workers.lost())
            if not self.night.needs_queue():
                self._handle(ev.Tick(time.time(), lost))
            else:
                with locked_queue(self.run_dir) as queue:
                    if self.state.watch:
                        make_inbox(self.inbox_root)
                        for arrival in arrivals(self.inbox_root, self.config.inbox.settle_s):
                            intake = assess(arrival, self.run_dir, queue, self.intake_rules)
                            self._handle(ev.InboxArrived(time.time(), intake, queue))
                    self._handle(ev.Tick(time.time(), lost, queue, read_promoted(self.run_dir)))
            self.night_metrics.on_tick(self.state.running_heartbeats())

    def _grade(self, request: fx.GradeWindow) -> None:
        """Ask the watchdog (never holding the lock while it thinks); its grade goes back to the machine."""
        with self.grading_lock:
            try:
                grade = Grade.model_validate(
                    self.workers.grade(request.specialist, request.window.model_dump(mode="json"))
                )
            except Exception as err:
                log.exception(
                    "watchdog failed; this window goes ungraded",
                    specialist=request.specialist,
                    error=str(err),
                )
                with self.lock:
                    self._handle(ev.GradeFailed(time.time(), request.specialist))
                return
            with self.lock:
                self._handle(
                    ev.Graded(
                        time.time(),
                        request.specialist,
                        grade,
                        request.window,
                        request.phase_ended,
                        request.rollbacks,
                    )
                )

    # ------------------------------------------------------------------------------ the executor

    def _handle(self, event: ev.SupervisorEvent) -> list[fx.Effect]:
        """Run `event` through the machine and carry out its effects in order; an effect whose result only
        the world knows (a moved file, a promotion) answers with a ev.Carried event, handled next."""
        events: deque[ev.SupervisorEvent] = deque([event])
        done: list[fx.Effect] = []
        while events:
            _, effects = transition(self.night, events.popleft())
            for effect in effects:
                answer = self._carry_out(effect)
                if answer is not None:
                    events.append(answer)
            done.extend(effects)
        return done

    def _reply(self, event: ev.SupervisorEvent) -> dict[str, Any]:
        replies = [effect.value for effect in self._handle(event) if isinstance(effect, fx.Reply)]
        return replies[0]

    def _carry_out(self, effect: fx.Effect) -> ev.SupervisorEvent | None:
        """Do one effect. Each case is the whole of what that effect means in the world."""
        match effect:
            case fx.WriteDecision(record):
                append_record(self.log_path, record)
                log.info(
                    "decision",
                    specialist=record.specialist,
                    trigger=record.trigger.kind.value,
                    action=record.action.value,
                    reason=record.reason,
                )
            case fx.WriteOutcome(decision_id, ok, detail):
                append_outcome(self.log_path, decision_id, ok=ok, detail=detail)
            case fx.Send(name, command):
                self.workers.send(name, command.model_dump())
            case fx.StartTrainer(name, job):
                self.workers.start(name, job)
            case fx.RestartTrainer(name):
                self.workers.restart(name)
            case fx.KillTrainer(name):
                self.workers.kill(name)
            case fx.GradeWindow():
                threading.Thread(target=self._grade, args=(effect,), daemon=True).start()
            case fx.AppendEvent(name, line):
                append_event(self.run_dir, name, line)
            case fx.SaveState():
                save_run_state(self.run_dir, self.state)
            case _:
                return self._carry_out_rest(effect)
        return None

    def _carry_out_rest(self, effect: fx.Effect) -> ev.SupervisorEvent | None:
        """The effects on promotion, the inbox, the report and the metrics."""
        match effect:
            case fx.PromotePhaseBest(name, phase):
                best = best_of_phase(self.config.run_dir() / name / phase)
                if best is not None:
                    self._promote(name, best, None)
            case fx.Promote(name, result):
                self._promote(name, result, None)
            case fx.PromoteJob():
                return self._promote_job(effect)
            case fx.TakeIn(decision_id, intake):
                assert self.night.queue is not None
                moved = carry_out(intake, self.inbox_root, self.night.queue)
                return ev.Carried(time.time(), decision_id, True, f"moved to {moved}")
            case fx.FinishJobFile(job_id, ok, error):
                assert self.night.queue is not None
                job = self.night.queue.get(job_id)
                job.file = str(finish_file(job, self.inbox_root, ok=ok, error=error))
            case fx.WriteReport():
                self._write_report()
            case fx.NotifyAborted(name, reason):
                self.notifier.aborted(self.state.model_dump(mode="json"), name, reason)
            case fx.CountDecision(name, action, trigger):
                self.night_metrics.on_decision(name, action, trigger)
            case fx.CountGrade(name, phase, score, source):
                self.night_metrics.on_grade(name, phase, score, source)
            case fx.Note(message, fields, warning):
                (log.warning if warning else log.info)(message, **fields)
            case fx.Reply():
                pass  # the caller's answer (see _reply)
        return None

    def _promote_job(self, effect: fx.PromoteJob) -> ev.Carried:
        try:
            changed = self.promote_job(
                effect.specialist, effect.job, effect.checkpoint, effect.exact_match, effect.base_dir
            )
        except (OSError, ValueError, KeyError) as err:
            log.exception("promotion failed", job=effect.job)
            detail = f"promotion failed ({err.__class__.__name__}: {err}); nothing was promoted"
            return ev.Carried(time.time(), effect.decision_id, False, detail, job=effect.job)
        detail = f"{effect.checkpoint} promoted" + ("; the router reloads it" if changed else "")
        return ev.Carried(time.time(), effect.decision_id, True, detail, job=effect.job)

    def _promote(self, name: str, result: dict[str, Any], base: Path | None, guarded: bool = False) -> bool:
        """`base` None: the base the checkpoint records it was trained on (control/promotion.py), so this
        process never imports the training stack (torch, transformers, peft: seconds of CPU) to find it."""
        specialist = self.config.specialists[name]
        changed = promote(
            self.run_dir, name, result, specialist.track, self.config.model.method, base, guarded=guarded
        )
        if changed:
            self.workers.promoted(name)
        return changed

    def _write_report(self) -> None:
        try:
            from report.morning import write_report

            write_report(self.run_dir)
        except Exception:
            log.exception("the morning report could not be written; the run itself goes on")
        self.notifier.night_ended(self.state.model_dump(mode="json"))  # its own thread; never fails the run
