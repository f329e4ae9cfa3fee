"""Supervisor actor: schedules trainers, turns grades and faults into logged decisions, and ends the night.

State machine per specialist: pending -> running <-> paused -> finished | stopped | aborted | failed.
Hard state is on disk (run_state.json, decisions.jsonl, events/), so a restarted supervisor continues.
Every decision is written to the log before it is applied, and its outcome after.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import structlog

from actors.control_watcher import ControlWatcher
from actors.night_metrics import NightMetrics
from agents.grade import Grade
from agents.metrics import MetricWindow
from control.commands import commands_for, fault_action_for, parameter_commands
from control.continuous import ContinuousTraining
from control.decision_book import NOT_APPLIED, DecisionBook
from control.grading import (
    evaluations_left,
    grade_line,
    history_of,
    params_of,
    phase_settings,
    planned_epochs,
    seconds_left,
    with_evidence,
)
from control.heartbeat import stalled_for
from control.job_queue import queue_rows
from control.promotion import best_of_phase, promote
from control.run_files import DECISIONS_FILE
from control.run_state import (
    TERMINAL_STATES,
    LastGrade,
    RunState,
    SpecialistState,
    load_run_state,
    save_run_state,
)
from control.telemetry import append_event, event_line, rollbacks_in
from control.tracker import SpecialistTracker
from control.user_controls import UserControls
from policies.decide import decide
from policies.decisions import Action, Decision, PhasePosition, TrainParams, Trigger
from policies.history import History
from report.notify import Notifier
from report.views import changed_params
from settings.recipe import BUILTIN_TINY, FOUNDATION, config_from_dict
from settings.run import RunConfig
from training.hooks import FaultAction

log = structlog.get_logger(__name__)


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

    def __init__(self, config_data: dict[str, Any], run_dir: str, config_path: str, workers: Workers) -> None:
        self.config = config_from_dict(config_data, RunConfig, source=config_path)
        self.run_dir = Path(run_dir)
        self.workers = workers
        self.log_path = self.run_dir / DECISIONS_FILE
        self.lock = threading.RLock()
        self.grading_lock = threading.Lock()
        self.pending_grades = 0
        self.stop_loop = threading.Event()
        self.loop_thread: threading.Thread | None = None
        self.trackers: dict[str, SpecialistTracker] = {}
        self.expected_restarts: set[str] = set()
        self.retired: set[str] = set()
        self.restarts_due: set[str] = set()
        self.rollback_counts: dict[tuple[str, str], int] = {}
        (self.run_dir / "events").mkdir(parents=True, exist_ok=True)
        restored = load_run_state(self.run_dir)
        self.state = restored or self._fresh_state(config_path)
        self.resumed = restored is not None
        self.state.supervisor_pid = os.getpid()
        self.book = DecisionBook(self.log_path, self.state.run)
        for name in self.state.specialists:
            self.trackers[name] = SpecialistTracker(name)
        save_run_state(self.run_dir, self.state)
        self.continuous = ContinuousTraining(self)
        self.user_controls = UserControls(self)
        # `overnight ctl` writes requests into the run dir; this thread applies them and stamps a heartbeat.
        self.control_watcher = ControlWatcher(
            self.run_dir, self.state.run, self.user_controls.apply, self.stop_loop
        )
        self.notifier = Notifier(self.config.notify, self.run_dir)
        self.night_metrics = NightMetrics(self.run_dir, self.config.grader.llm.budget_usd)
        log.info("supervisor ready", run=self.state.run, resumed=self.resumed, decisions=len(self.book))

    def _fresh_state(self, config_path: str) -> RunState:
        state = RunState(run=self.config.run.name, config_path=config_path)
        names = ([FOUNDATION] if self.config.model.base_model == BUILTIN_TINY else []) + list(
            self.config.specialists
        )
        for name in names:
            phases = (
                ["general"] if name == FOUNDATION else [p.name for p in self.config.specialists[name].phases]
            )
            state.specialists[name] = SpecialistState(phases_total=len(phases))
        return state

    # ------------------------------------------------------------------------------------- the loop

    def start(self, watch: bool = False) -> dict[str, Any]:
        """Start (or, after a restart, continue) the night; `watch` keeps it up for the inbox. Idempotent."""
        with self.lock:
            if watch and not self.state.watch:
                self.state.watch = True
                if self.state.status == "finished":
                    # A finished night reopened with --watch: its plan is done, its inbox is now watched.
                    self.state.status = "running"
                    self.state.plan_done_at = self.state.finished_at or time.time()
                    self.state.finished_at = None
                self.save()
            if self.loop_thread is None or not self.loop_thread.is_alive():
                if self.state.status == "running":
                    # Trainers marked running may still be alive; start() re-attaches to them.
                    for name, spec in self.state.specialists.items():
                        if spec.state in ("running", "paused"):
                            if not self.workers.exists(name):
                                # A new cluster (the driver was rerun): its new process is no crash.
                                self.expected_restarts.add(name)
                            self._mark_launched(spec)
                            self.workers.start(name, self.continuous.spec_for(name))
                self.loop_thread = threading.Thread(target=self._loop, name="supervisor-loop", daemon=True)
                self.loop_thread.start()
            self.control_watcher.start()
        return self.status()

    def _loop(self) -> None:
        while not self.stop_loop.wait(self.config.supervisor.poll_interval_s):
            try:
                self._tick()
            except Exception:
                log.exception("supervisor tick failed; continuing")
            if self.state.status != "running":
                return

    def _tick(self) -> None:
        with self.lock:
            for name, error in self.workers.lost():
                self._on_crash(name, f"trainer actor lost: {error}", restartable=False)
            self._retire_finished_trainers()
            for name in sorted(self.restarts_due):
                self.restarts_due.discard(name)
                if self.state.specialists[name].state == "running":
                    self.workers.start(name, self.continuous.spec_for(name))
            self._check_heartbeats()
            self.night_metrics.on_tick(self.state.running_heartbeats())
            self._schedule()
            plan_over = self.state.plan_done_at is not None or (
                not self.state.unfinished() and not self.pending_grades
            )
            if plan_over and self.state.status == "running":
                if not self.state.watch:
                    self._finish()
                elif self.state.plan_done_at is None:
                    self._plan_done()
            if self.state.watch:
                self.continuous.tick(plan_done=self.state.plan_done_at is not None)

    def _retire_finished_trainers(self) -> None:
        """A trainer whose specialist has ended gives its CPUs or GPU back to the ones still training."""
        for name, spec in self.state.specialists.items():
            if spec.state in TERMINAL_STATES and name not in self.retired:
                self.retired.add(name)
                self.workers.kill(name)

    def _schedule(self) -> None:
        specs = self.state.specialists
        foundation = specs.get(FOUNDATION)
        if foundation is not None and foundation.state not in TERMINAL_STATES:
            if foundation.state == "pending":
                self._launch(FOUNDATION)
            return
        if foundation is not None and foundation.state != "finished":
            for name, spec in specs.items():
                if spec.state == "pending":
                    self._set_terminal(name, "aborted", f"the foundation ended {foundation.state}")
            return
        running = [n for n, s in specs.items() if s.state in ("running", "paused")]
        for name, spec in specs.items():
            if spec.state != "pending":
                continue
            if running and not self.config.supervisor.parallel_specialists:
                return
            self._launch(name)
            running.append(name)

    def launch_job(self, name: str, job: dict[str, Any]) -> None:
        """Start `name`'s trainer on `job` (the continuous-training queue chose it)."""
        self.retired.discard(name)
        spec = self.state.specialists[name]
        # Its night's trainer was retired: the process that reports next is a new one, not a crash.
        spec.trainer_pid = None
        self._mark_launched(spec)
        self.save()
        log.info("starting job", specialist=name, job=job["id"])
        self.workers.start(name, job)

    def _launch(self, name: str) -> None:
        spec = self.state.specialists[name]
        spec.state = "running"
        spec.started_at = spec.started_at or time.time()
        self._mark_launched(spec)
        self.save()
        log.info("starting trainer", specialist=name)
        self.workers.start(name)

    @staticmethod
    def _mark_launched(spec: SpecialistState) -> None:
        spec.launched_at = time.time()
        spec.last_heartbeat = None

    def _check_heartbeats(self) -> None:
        now = time.time()
        for name, spec in self.state.specialists.items():
            if spec.state != "running":
                continue
            limits = self.config.policies.stall_seconds, self.config.supervisor.startup_grace_s
            silence = stalled_for(spec.last_heartbeat, spec.launched_at, now, *limits)
            if silence is None:
                continue
            tracker = self.trackers[name]
            trigger = Trigger.stall(seconds_since_heartbeat=silence, step=spec.step, epoch=spec.epoch)
            decision_id, decision = self._decide_and_log(
                name, trigger, key=("stall", spec.phase, spec.step, spec.last_heartbeat or spec.launched_at)
            )
            if decision.action == Action.RESTART_TRAINER:
                self.expected_restarts.add(name)
                self._mark_launched(spec)
                self.workers.restart(name)
                self.book.outcome(
                    decision_id,
                    True,
                    "trainer process killed; Ray restarts it and it resumes from its newest valid checkpoint",
                )
            elif decision.action == Action.ABORT_SPECIALIST:
                self.workers.kill(name)
                self._set_terminal(name, "aborted", decision.reason)
                self.book.outcome(decision_id, True, "trainer killed; specialist aborted")
            tracker.on_rollback()

    # ------------------------------------------------------------------------ events from trainers

    def report(self, specialist: str, event: dict[str, Any]) -> None:
        """A trainer's event. Fire-and-forget for the trainer; grading happens on a separate thread."""
        kind = event.get("kind")
        self.night_metrics.on_event(specialist, event)
        window = None
        phase_ended = kind == "phase_end"
        with self.lock:
            spec = self.state.specialists[specialist]
            tracker = self.trackers[specialist]
            spec.last_heartbeat = time.time()
            if kind == "actor_started":
                self._on_actor_started(specialist, event)
                return
            spec.epoch, spec.step = event.get("epoch", spec.epoch), event.get("step", spec.step)
            if kind == "phase_start":
                self._on_phase_start(specialist, spec, tracker, event)
            elif kind == "step":
                self._on_step(specialist, spec, tracker, event)
            elif kind == "epoch_eval":
                tracker.on_epoch(event)
                per_task = {
                    task: {"exact_match": score["exact_match"], "format_validity": score["format_validity"]}
                    for task, score in event["per_task"].items()
                }
                fields = ("val_loss", "exact_match", "format_validity", "n_graded")
                self._append_event(specialist, event_line("epoch", event, *fields, per_task=per_task))
                if self._grading_due(specialist, event["phase"], event["epoch"]):
                    window = tracker.take_window()
            elif kind == "step_skipped":
                self._on_skip(specialist, tracker, event)
            elif kind == "checkpoint":
                tracker.on_checkpoint(event)
            elif kind == "rollback":
                tracker.on_rollback()
                self.rollback_counts[(specialist, event["phase"])] = (
                    self._rollbacks(specialist, event["phase"]) + 1
                )
                skipped = event.get("skipped_checkpoints", [])
                line = event_line("rollback", event, "checkpoint", skipped_checkpoints=skipped)
                self._append_event(specialist, line)
            elif kind == "checkpoint_failed":
                trigger = Trigger.checkpoint_failed(
                    detail=event["message"], step=event["step"], epoch=event["epoch"]
                )
                decision_id, _ = self._decide_and_log(
                    specialist,
                    trigger,
                    key=("checkpoint_failed", event["phase"], event["step"], event["time"]),
                )
                kept = event.get("previous_checkpoint") or "none yet"
                self.book.outcome(
                    decision_id, True, f"training goes on; the previous checkpoint stays intact: {kept}"
                )
            elif kind == "phase_end":
                self._on_phase_end(specialist, spec, tracker, event)
                window = tracker.take_window()
            if window is not None:
                last = window.epochs[-1].epoch
                ends = phase_ended or not evaluations_left(last, self._epochs_of(specialist, window.phase),
                                                           self._eval_every(specialist, window.phase))
                window = with_evidence(window, self._history(specialist), self.config.policies, ends)
                self.pending_grades += 1
            self.save(throttle=kind in ("step", "heartbeat"))
        if window is not None:
            threading.Thread(
                target=self._grade,
                args=(specialist, window.model_dump(mode="json"), phase_ended, self._rollbacks(specialist)),
                daemon=True,
            ).start()

    def _on_phase_start(
        self, name: str, spec: SpecialistState, tracker: SpecialistTracker, event: dict[str, Any]
    ) -> None:
        tracker.start_phase(event["phase"])
        spec.phase = event["phase"]
        planned = self._epochs_of(name, event["phase"])
        if event.get("resumed_from") and planned != self._epochs_of(name, event["phase"], configured=True):
            # A restarted trainer reads its epochs from the config: a stop-early or extension still holds.
            self.workers.send(name, {"name": "set_epochs", "epochs": planned, "reason": "resumed phase"})
        phases = self._phase_names(name)
        spec.phase_index = phases.index(event["phase"]) if event["phase"] in phases else 0
        spec.epochs_total = self._epochs_of(name, event["phase"])
        line = event_line("phase", event, status="started", resumed_from=event.get("resumed_from"))
        self._append_event(name, line)
        for skipped in event.get("skipped_checkpoints", []):
            log.warning("corrupt checkpoint skipped", specialist=name, detail=skipped)

    def _on_step(
        self, name: str, spec: SpecialistState, tracker: SpecialistTracker, event: dict[str, Any]
    ) -> None:
        tracker.on_step(event)
        spec.loss, spec.lr = event["loss"], event["lr"]
        spec.micro_batch, spec.grad_accum = event["micro_batch"], event["grad_accum"]
        elapsed = time.time() - (spec.started_at or time.time())
        progress = event.get("progress") or 0.0
        phases_left = spec.phases_total - spec.phase_index - progress
        done_fraction = (spec.phase_index + progress) / max(1, spec.phases_total)
        spec.eta_s = (
            elapsed / done_fraction * phases_left / max(1, spec.phases_total) if done_fraction else None
        )
        fields = ("loss", "lr", "micro_batch", "grad_accum", "tokens_per_s")
        self._append_event(name, event_line("step", event, *fields))
        diverged = tracker.diverged(
            self.config.policies.divergence_k, self.config.supervisor.divergence_min_steps
        )
        if diverged is not None:
            loss, best = diverged
            trigger = Trigger.divergence(loss=loss, best_loss=best, step=event["step"], epoch=event["epoch"])
            decision_id, decision = self._decide_and_log(
                name, trigger, key=("divergence", event["phase"], event["time"])
            )
            tracker.on_rollback()
            self._apply(name, decision_id, decision)

    def _on_phase_end(
        self, name: str, spec: SpecialistState, tracker: SpecialistTracker, event: dict[str, Any]
    ) -> None:
        status = event["status"]
        if status in ("completed", "skipped") and event["phase"] not in spec.finished_phases:
            spec.finished_phases.append(event["phase"])
        ended = "finished" if status == "completed" else status
        self._append_event(name, event_line("phase", event, status=ended, reason=event.get("reason")))
        self._promote_phase(name, event["phase"])

    def decide_fault(self, specialist: str, fault: dict[str, Any]) -> dict[str, Any]:
        """A hard fault at a step: decide within the step. A retried call gets the same decision back."""
        with self.lock:
            spec = self.state.specialists[specialist]
            tracker = self.trackers[specialist]
            spec.last_heartbeat = time.time()
            if fault.get("micro_batch") and fault.get("grad_accum") and tracker.params is not None:
                tracker.params = tracker.params.model_copy(
                    update={"micro_batch": fault["micro_batch"], "grad_accum": fault["grad_accum"]}
                )
            detail = f"{fault['fault']} at step {fault['step']}: {fault['message']}"
            tracker.hard_faults.append(detail)
            if fault["fault"] == "oom":
                trigger = Trigger.oom(detail=detail, step=fault["step"], epoch=fault["epoch"])
            elif fault["fault"] == "non_finite":
                trigger = Trigger.non_finite(detail=detail, step=fault["step"], epoch=fault["epoch"])
            else:
                trigger = Trigger.crash(detail=detail, step=fault["step"], epoch=fault["epoch"])
            decision_id, decision = self._decide_and_log(
                specialist,
                trigger,
                key=("fault", fault["phase"], fault["fault"], fault["step"], fault["time"]),
            )
            tracker.on_rollback()
            action = fault_action_for(decision)
            line = event_line(
                "fault",
                fault,
                "fault",
                decided_at=time.time(),
                injected=fault.get("injected", False),
                decision_id=decision_id,
                action=decision.action.value,
            )
            self._append_event(specialist, line)
            if decision.action == Action.ABORT_SPECIALIST:
                spec.reason = decision.reason
                spec.state = "aborted"
                self.save()
            self.book.outcome(
                decision_id,
                True,
                f"trainer told to {action.value}"
                + (f" with {changed_params(*params_of(decision))}" if parameter_commands(decision) else ""),
            )
            after_rollback = action is FaultAction.ROLLBACK
            commands = [c.model_dump() for c in parameter_commands(decision, after_rollback=after_rollback)]
            if decision.action == Action.ABORT_SPECIALIST:
                commands.append({"name": "stop", "reason": decision.reason})
            return {"fault_action": action.value, "commands": commands}

    def trainer_done(self, specialist: str, outcome: dict[str, Any]) -> None:
        """A train() call ended: finished, stopped, or raised (a crash the policies may restart)."""
        with self.lock:
            spec = self.state.specialists[specialist]
            if spec.state in TERMINAL_STATES and spec.state != "aborted":
                return  # a retried report of an ending already recorded
            if not outcome["ok"]:
                self._on_crash(specialist, outcome["error"], restartable=True)
                return
            if outcome.get("job") is not None:
                if outcome["job"] == spec.job:
                    self.continuous.on_result(specialist, outcome["result"])
                return
            result = outcome["result"]
            if result.get("best_checkpoint"):
                self._promote(specialist, result)
            final_state = {
                "completed": "finished",
                "skipped": "finished",
                "stopped": "stopped",
                "faulted": "aborted",
            }[result["status"]]
            if spec.state == "aborted":
                final_state = "aborted"
            self._set_terminal(specialist, final_state, spec.reason or f"training {result['status']}")

    def _on_crash(self, name: str, error: str, restartable: bool) -> None:
        spec = self.state.specialists[name]
        if spec.state in TERMINAL_STATES:
            return
        trigger = Trigger.crash(detail=error[:500], step=spec.step, epoch=spec.epoch)
        decision_id, decision = self._decide_and_log(
            name, trigger, key=("crash", spec.phase, spec.step, error[:200], spec.crash_restarts)
        )
        if decision.action == Action.RESTART_TRAINER and restartable:
            spec.crash_restarts += 1
            self._mark_launched(spec)
            # The crashed train() is still in flight (waiting on trainer_done): start it on the next tick.
            self.restarts_due.add(name)
            self.book.outcome(
                decision_id,
                True,
                f"train() called again (restart {spec.crash_restarts}); it resumes "
                "from the newest valid checkpoint",
            )
        else:
            self.workers.kill(name)
            self._set_terminal(
                name,
                "failed" if decision.action != Action.ABORT_SPECIALIST else "aborted",
                decision.reason if restartable else error,
            )
            self.book.outcome(decision_id, True, "specialist stopped; the rest of the run goes on")

    def _on_actor_started(self, name: str, event: dict[str, Any]) -> None:
        """A trainer process came up: the first, one the supervisor restarted, or a crash Ray restarted."""
        spec = self.state.specialists[name]
        previous, spec.trainer_pid = spec.trainer_pid, event["pid"]
        expected = name in self.expected_restarts
        self.expected_restarts.discard(name)
        if previous is None or previous == event["pid"] or expected or spec.state in TERMINAL_STATES:
            self.save()
            return
        trigger = Trigger.crash(
            detail=f"trainer process {previous} died; Ray restarted it as process {event['pid']}",
            step=spec.step,
            epoch=spec.epoch,
        )
        decision_id, decision = self._decide_and_log(name, trigger, key=("restarted", previous, event["pid"]))
        if decision.action == Action.RESTART_TRAINER:
            spec.crash_restarts += 1
            self.book.outcome(
                decision_id,
                True,
                "Ray restarted the actor; train() is retried and resumes from the newest valid checkpoint",
            )
        else:
            self.workers.kill(name)
            self._set_terminal(name, "aborted", decision.reason)
            self.book.outcome(decision_id, True, "trainer killed for good; the rest of the run goes on")
        self.save()

    # ------------------------------------------------------------------------------------ grading

    def _rollbacks(self, name: str, phase: str | None = None) -> int:
        """Rollbacks the trainer of `name` has done in `phase` (default: its current one), counted from
        events/ once, so a restarted supervisor counts the same."""
        phase = phase or self.trackers[name].phase or self.state.specialists[name].phase or ""
        if (name, phase) not in self.rollback_counts:
            self.rollback_counts[(name, phase)] = rollbacks_in(self.run_dir, name, phase)
        return self.rollback_counts[(name, phase)]

    def _grading_due(self, name: str, phase: str, epoch: int) -> bool:
        every = self.config.watchdog.every_for(phase)
        return (epoch + 1) % every == 0 or epoch + 1 >= self._epochs_of(name, phase)

    def _grade(self, name: str, window: dict[str, Any], phase_ended: bool, rollbacks: int) -> None:
        """Ask the watchdog (never holding the lock while it thinks), then decide and apply."""
        try:
            with self.grading_lock:
                self._grade_window(name, window, phase_ended, rollbacks)
        finally:
            with self.lock:
                self.pending_grades -= 1

    def _grade_window(self, name: str, window: dict[str, Any], phase_ended: bool, rollbacks: int) -> None:
        try:
            grade = Grade.model_validate(self.workers.grade(name, window))
        except Exception as err:
            log.exception("watchdog failed; this window goes ungraded", specialist=name, error=str(err))
            return
        graded = MetricWindow.model_validate(window)
        epoch = graded.epochs[-1].epoch
        with self.lock:
            spec = self.state.specialists[name]
            spec.last_grade = LastGrade(score=grade.score, letter=grade.letter, source=grade.source)
            self._append_event(name, grade_line(grade, graded, spec.step))
            self.night_metrics.on_grade(name, graded.phase, grade.score, grade.source)
            trigger = Trigger.grade(grade.letter, grade.score, spec.step, epoch, graded.evidence,
                                    self._position(name, graded.phase, epoch, phase_ended))
            decision_id, decision = self._decide_and_log(
                name,
                trigger,
                # An epoch graded again after a rollback is a new grade, not a retry of the old one.
                key=("grade", graded.phase, epoch, *((rollbacks,) if rollbacks else ())),
                grade=grade,
                phase=graded.phase,
            )
            phase_over = graded.phase != spec.phase or graded.phase in spec.finished_phases
            if spec.state in TERMINAL_STATES or phase_ended or phase_over:
                # The phase this window graded is over: the grade and decision stay on record for the morning.
                self.book.outcome(decision_id, True, f"{NOT_APPLIED}: the graded phase had already ended")
            elif decision.action == Action.SELECT_BEST:
                self.book.outcome(decision_id, True, "no intervention: a specialist's phase promotes its "
                                  "best checkpoint by val exact match when it ends (promoted.json)")
            else:
                self._apply(name, decision_id, decision)
            self.save()

    # ---------------------------------------------------------------------------------- controls

    def control(self, specialist: str, action: str, request_id: str | None = None) -> dict[str, Any]:
        """pause | resume | stop | skip (`overnight ctl`, through the control file); a decision in the log."""
        return self.user_controls.control(specialist, action, request_id)

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

    # ------------------------------------------------------------------------------- decisions

    def _history(self, name: str) -> History:
        spec = self.state.specialists[name]
        return history_of(name, self.trackers[name], spec, self.book, self.config.training)

    def _decide_and_log(
        self,
        name: str,
        trigger: Trigger,
        key: tuple[Any, ...],
        grade: Grade | None = None,
        reason_prefix: str = "",
        phase: str | None = None,
    ) -> tuple[str, Decision]:
        """Decide, and write the decision to the log before anything acts on it (once per key)."""
        decision_id, known = self.book.known(name, key)
        if known is not None:
            return decision_id, known
        decision = decide(trigger, self._history(name), self.config.policies)
        if reason_prefix:
            decision = decision.model_copy(update={"reason": f"{reason_prefix}: {decision.reason}"})
        spec = self.state.specialists[name]
        self.book.write(
            decision_id,
            decision,
            specialist=name,
            phase=phase or spec.phase or "main",
            grade=grade,
            checkpoints_seen=len(self.trackers[name].checkpoints),
        )
        self.night_metrics.on_decision(name, decision.action.value, trigger.kind.value)
        return decision_id, decision

    def _apply(self, name: str, decision_id: str, decision: Decision) -> None:
        """Act on a between-steps decision and record the outcome."""
        if decision.action == Action.RESTART_TRAINER:
            self.expected_restarts.add(name)
            self.workers.restart(name)
            self.book.outcome(
                decision_id, True, "trainer restarted; it resumes from its newest valid checkpoint"
            )
            return
        commands = commands_for(decision)
        for command in commands:
            self.workers.send(name, command.model_dump())
        if decision.action == Action.ABORT_SPECIALIST:
            self.state.specialists[name].reason = decision.reason
            self.state.specialists[name].state = "aborted"
        if decision.params_after.epochs:  # stopped early or extended
            self.state.specialists[name].epochs_total = decision.params_after.epochs
        detail = ", ".join(c.name for c in commands) or "nothing to change"
        self.book.outcome(decision_id, True, f"sent to trainer:{name}: {detail}")

    def log_fact(
        self, name: str, phase: str, trigger: Trigger, action: Action, reason: str, key: tuple[Any, ...]
    ) -> str:
        """Log a decision the queue took (no policy involved, parameters unchanged); once per key."""
        decision_id, known = self.book.known(name, key)
        if known is not None:
            return decision_id
        params = (
            self._history(name).params
            if name in self.state.specialists
            else TrainParams(
                lr=self.config.training.learning_rate,
                micro_batch=self.config.training.micro_batch_size,
                grad_accum=self.config.training.grad_accum_steps,
            )
        )
        decision = Decision(
            action=action, trigger=trigger, params_before=params, params_after=params, reason=reason
        )
        self.book.write(decision_id, decision, specialist=name, phase=phase)
        return decision_id

    # ------------------------------------------------------------------------- promotion and end

    def _promote_phase(self, name: str, phase: str) -> None:
        """At a phase's end, its best checkpoint (by val exact match) is promoted if it beats the current."""
        if self.state.specialists[name].job == phase:
            return  # a job is promoted by the regression guard when it ends, not by its val split
        best = best_of_phase(self.config.run_dir() / name / phase) if name != FOUNDATION else None
        if best is not None:
            self._promote(name, best)

    def _promote(self, name: str, result: dict[str, Any]) -> None:
        if name == FOUNDATION:
            return
        specialist = self.config.specialists[name]
        if promote(self.run_dir, name, result, specialist.track, self.config.model.method, self._base_dir()):
            self.workers.promoted(name)

    def promote_job(
        self, name: str, job_id: str, checkpoint: str, exact_match: float | None, base_dir: str | None
    ) -> bool:
        """Serve a job's checkpoint (the regression guard let it through); True when promoted.json changed.
        `base_dir` is the base the job trained on (the promoted checkpoint's), else the config's."""
        specialist = self.config.specialists[name]
        result = {"best_checkpoint": checkpoint, "best_exact_match": exact_match, "phase": job_id}
        method = self.config.model.method
        base = Path(base_dir) if base_dir else self._base_dir()
        changed = promote(self.run_dir, name, result, specialist.track, method, base, guarded=True)
        if changed:
            self.workers.promoted(name)
        return changed

    def _base_dir(self) -> Path:
        from training.recipe import base_model_dir

        return base_model_dir(self.config).resolve()

    def _plan_done(self) -> None:
        """Watch mode: the night's plan is over; write its report and keep watching the inbox."""
        self._write_report()
        self.state.plan_done_at = time.time()
        self.save()
        log.info("plan finished; watching the inbox", inbox=str(self.continuous.root))

    def _write_report(self) -> None:
        try:
            from report.morning import write_report

            write_report(self.run_dir)
        except Exception:
            log.exception("the morning report could not be written; the run itself goes on")
        self.notifier.night_ended(self.state.model_dump(mode="json"))  # its own thread; never fails the run

    def _finish(self) -> None:
        self.state.status = "finished"
        self.state.finished_at = time.time()
        self.save()
        self._write_report()
        log.info(
            "run finished", run=self.state.run, states={n: s.state for n, s in self.state.specialists.items()}
        )

    def _set_terminal(self, name: str, state: str, reason: str) -> None:
        spec = self.state.specialists[name]
        if spec.job is not None:
            # A job's ending is the job's, not the specialist's: its night stays as it was.
            self.continuous.on_ended(name, state, reason)
            return
        spec.state = state  # type: ignore[assignment]
        spec.reason = reason
        spec.finished_at = time.time()
        spec.eta_s = 0.0
        self.save()
        log.info("specialist ended", specialist=name, state=state, reason=reason)
        if state == "aborted":
            self.notifier.aborted(self.state.model_dump(mode="json"), name, reason)

    # ---------------------------------------------------------------------------------- plumbing

    def save(self, throttle: bool = False) -> None:
        now = time.time()
        if throttle and now - self.state.updated_at < 1.0:
            return
        for name, spec in self.state.specialists.items():
            spec.interventions = self.book.interventions(name)
        save_run_state(self.run_dir, self.state)

    def _append_event(self, name: str, line: dict[str, Any]) -> None:
        append_event(self.run_dir, name, line)

    def _phase_names(self, name: str) -> list[str]:
        job = self.state.specialists[name].job
        if job is not None:
            return [job]
        if name == FOUNDATION:
            return ["general"]
        return [phase.name for phase in self.config.specialists[name].phases]

    def _epochs_of(self, name: str, phase: str, configured: bool = False) -> int:
        """The epochs `phase` trains: as configured, or as a stop-early or extend decision set them."""
        job_epochs = self.continuous.epochs_of(name, phase)
        if job_epochs is not None:
            return job_epochs
        epochs = phase_settings(self.config, name, phase).epochs
        applied = (record for _, record in self.book.applied(name))
        return epochs if configured else planned_epochs(applied, phase, epochs)

    def _eval_every(self, name: str, phase: str) -> int:
        return phase_settings(self.config, name, phase).eval_every

    def _position(self, name: str, phase: str, epoch: int, phase_ended: bool) -> PhasePosition:
        """Where the graded `epoch` stands: in its phase's plan, and against the night's deadline."""
        planned = self._epochs_of(name, phase)
        left = 0 if phase_ended else evaluations_left(epoch, planned, self._eval_every(name, phase))
        now = time.time()
        return PhasePosition(
            epochs_planned=planned,
            evaluations_left=left,
            seconds_per_epoch=self.trackers[name].seconds_per_epoch(epoch + 1, now),
            seconds_left=seconds_left(self.state.started_at, self.config.policies.night_hours, now),
        )

    def _on_skip(self, name: str, tracker: SpecialistTracker, event: dict[str, Any]) -> None:
        """A step the spike guard skipped; enough of them within the policy window make a decision."""
        fields = ("reason", "value", "median", "robust_z", "skipped_in_phase")
        self._append_event(name, event_line("skip", event, *fields))
        limits = self.config.policies
        skips = tracker.on_skip(event["step"], limits.spike_window_steps)
        if skips < limits.spike_skips:
            return
        detail = f"last: {event['reason']} {event['value']:.4g}, robust z {event['robust_z']:.1f}"
        trigger = Trigger.spikes(skips, detail, step=event["step"], epoch=event["epoch"])
        decision_id, decision = self._decide_and_log(
            name, trigger, key=("spikes", event["phase"], event["step"], event["time"])
        )
        tracker.skipped_steps.clear()  # the same skips never make a second decision
        if decision.action == Action.ROLLBACK:
            tracker.on_rollback()
        self._apply(name, decision_id, decision)
