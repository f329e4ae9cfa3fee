"""The supervisor machine's state (`Night`) and the `Turn` one transition works through (pure; no I/O).

A Turn reads and updates the Night, and collects the effects for the executor: decisions go into the book
and out as WriteDecision first, outcomes after what acts on them. A specialist's status changes only in
`Turn.move`, which checks it against the table of allowed transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.grade import Grade
from control.commands import TrainerCommand
from control.decision_book import DecisionBook
from control.effects import (
    CountDecision,
    Effect,
    KillTrainer,
    Note,
    NotifyAborted,
    SaveState,
    Send,
    WriteDecision,
    WriteOutcome,
)
from control.grading import configured_params, history_of
from control.job_queue import JobQueue
from control.run_state import TERMINAL_STATES, RunState, SpecialistState, SpecialistStatus
from control.tracker import SpecialistTracker
from policies.decide import decide
from policies.decisions import Action, Decision, TrainParams, Trigger
from policies.history import History
from settings.recipe import BUILTIN_TINY, FOUNDATION
from settings.run import RunConfig

SAVE_EVERY_S = 1.0
"""A step event saves run_state.json at most this often."""

ALLOWED: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "paused", "stopped", "aborted", "failed"}),
    "running": frozenset({"paused", *TERMINAL_STATES}),
    "paused": frozenset({"running", "pending", *TERMINAL_STATES}),
    # A finished (or stopped...) specialist runs again only as a continuous-training job's trainer.
    **{ended: frozenset({"running"}) for ended in TERMINAL_STATES},
}
"""Status -> the statuses it may move to (besides itself)."""


class IllegalMove(ValueError):
    """A status change the machine's table does not allow: a bug in a transition, never the user's input."""


@dataclass
class JobEnding:
    """A job whose trainer ended: settled (guarded, requeued or failed) at the next tick, under the queue's
    lock. `result` is the train(job) result; None when the supervisor ended it (`state`, `reason`)."""

    job: str
    result: dict[str, Any] | None = None
    state: str = ""
    reason: str = ""


@dataclass
class Night:
    """Everything the machine knows about the run; `transition` updates it in place and returns it."""

    config: RunConfig
    run: RunState
    book: DecisionBook
    trackers: dict[str, SpecialistTracker] = field(default_factory=dict)
    expected_restarts: set[str] = field(default_factory=set)
    """Trainers whose next new process is no crash (the supervisor restarted it, or a new cluster)."""
    retired: set[str] = field(default_factory=set)
    """Ended specialists whose trainer was killed already."""
    restarts_due: set[str] = field(default_factory=set)
    """Crashed trainers to start again on the next tick (their failed train() is still returning)."""
    pending_grades: int = 0
    stopping_jobs: set[str] = field(default_factory=set)
    """Removed jobs whose trainer was told to stop."""
    job_endings: list[JobEnding] = field(default_factory=list)
    queue: JobQueue | None = None
    """The job queue as last read under its lock (the tick's); the executor writes it back."""

    def needs_queue(self) -> bool:
        """Whether the next tick must read the queue: the inbox is watched, or a job runs or ended."""
        return self.run.watch or bool(self.job_endings) or any(s.job for s in self.run.specialists.values())


def new_night(
    config: RunConfig, config_path: str, restored: RunState | None, book: DecisionBook, now: float
) -> Night:
    """The night of a run: as restored from run_state.json, or fresh from the config."""
    run = restored or fresh_run_state(config, config_path, now)
    night = Night(config=config, run=run, book=book)
    night.trackers = {name: SpecialistTracker(name) for name in run.specialists}
    return night


def fresh_run_state(config: RunConfig, config_path: str, now: float) -> RunState:
    """Every specialist pending, the foundation first when the base is the built-in tiny model."""
    run = RunState(run=config.run.name, config_path=config_path, started_at=now, updated_at=now)
    if config.model.base_model == BUILTIN_TINY:
        run.specialists[FOUNDATION] = SpecialistState(phases_total=1)
    for name, specialist in config.specialists.items():
        run.specialists[name] = SpecialistState(phases_total=len(specialist.phases))
    return run


class Turn:
    """One transition in progress: the night, the event's time, and the effects so far."""

    def __init__(self, night: Night, now: float) -> None:
        self.night = night
        self.now = now
        self.effects: list[Effect] = []

    def emit(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def spec(self, name: str) -> SpecialistState:
        return self.night.run.specialists[name]

    def note(self, message: str, warning: bool = False, **fields: Any) -> None:
        self.emit(Note(message, fields, warning))

    # ------------------------------------------------------------------------------------- status

    def move(self, name: str, to: SpecialistStatus, reason: str | None = None) -> None:
        """The one place a specialist's status changes; an ending stamps its time and reason."""
        spec = self.spec(name)
        if to != spec.state and to not in ALLOWED[spec.state]:
            raise IllegalMove(f"{name}: {spec.state} -> {to} is not an allowed move")
        was = spec.state
        spec.state = to
        if to == "running" and spec.started_at is None:
            spec.started_at = self.now
        if to in TERMINAL_STATES:
            spec.reason = reason if reason is not None else spec.reason
            spec.finished_at, spec.eta_s = self.now, 0.0
            self.note("specialist ended", specialist=name, state=to, reason=spec.reason)
            if to == "aborted" and was != "aborted":
                self.emit(NotifyAborted(name, spec.reason or ""))

    def end(self, name: str, to: SpecialistStatus, reason: str) -> None:
        """End `name`: its night's specialist, or the job its trainer runs now (the night stays as it was)."""
        spec = self.spec(name)
        if spec.job is None:
            if spec.state in TERMINAL_STATES and spec.state != to:
                # A late event's decision (reports are not ordered with train()'s end): the ending stands.
                self.note("specialist already ended", specialist=name, state=spec.state, not_moved_to=to)
                return
            self.move(name, to, reason)
            self.save()
            return
        self.night.job_endings.append(JobEnding(job=spec.job, state=to, reason=reason))
        self.emit(KillTrainer(name))
        self.restore_night(name)

    def restore_night(self, name: str) -> None:
        """A job's trainer ended: the specialist goes back to how its night left it."""
        spec = self.spec(name)
        back: SpecialistStatus = spec.night_state or "finished"
        spec.job, spec.night_state = None, None
        self.move(name, back)
        spec.finished_at, spec.eta_s = self.now, 0.0
        self.save()

    def launched(self, name: str) -> None:
        """A trainer was (re)started: start-up has its own grace before silence is a stall."""
        spec = self.spec(name)
        spec.launched_at, spec.last_heartbeat = self.now, None

    # ---------------------------------------------------------------------------------- decisions

    def params(self, name: str) -> TrainParams:
        """The parameters `name` trains with now: as its trainer last reported them (a step or the phase's
        start), else as its current phase is configured (before the trainer has said anything)."""
        tracker, spec = self.night.trackers[name], self.spec(name)
        if tracker.params is not None:
            return tracker.params
        if spec.peak_lr is not None and spec.micro_batch and spec.grad_accum:
            return TrainParams(peak_lr=spec.peak_lr, micro_batch=spec.micro_batch, grad_accum=spec.grad_accum)
        return configured_params(self.night.config, name, spec.phase)

    def history(self, name: str) -> History:
        tracker, spec = self.night.trackers[name], self.spec(name)
        return history_of(name, tracker, spec, self.night.book, self.params(name))

    def decide(
        self,
        name: str,
        trigger: Trigger,
        key: tuple[Any, ...],
        grade: Grade | None = None,
        phase: str | None = None,
    ) -> tuple[str, Decision, bool]:
        """The policies' decision, written before anything acts on it; once per key (a retried event gets
        the first decision back, and `new` False)."""
        book = self.night.book
        decision_id, known = book.known(name, key)
        if known is not None:
            return decision_id, known, False
        decision = decide(trigger, self.history(name), self.night.config.policies)
        spec = self.spec(name)
        record = book.add(
            decision_id,
            decision,
            specialist=name,
            phase=phase or spec.phase or "main",
            now=self.now,
            grade=grade,
            checkpoints_seen=len(self.night.trackers[name].checkpoints),
        )
        self.emit(WriteDecision(record), CountDecision(name, decision.action.value, trigger.kind.value))
        return decision_id, decision, True

    def fact(
        self, name: str, phase: str, trigger: Trigger, action: Action, reason: str, key: tuple[Any, ...]
    ) -> tuple[str, bool]:
        """Log a decision taken without the policies (the queue's, a user's), parameters unchanged; once per
        key. False when it was taken already."""
        book = self.night.book
        decision_id, known = book.known(name, key)
        if known is not None:
            return decision_id, False
        # The inbox and the run itself have no trainer: their facts carry the configured defaults.
        params = (
            self.params(name)
            if name in self.night.run.specialists
            else configured_params(self.night.config, name, None)
        )
        decision = Decision(
            action=action, trigger=trigger, params_before=params, params_after=params, reason=reason
        )
        self.emit(WriteDecision(book.add(decision_id, decision, specialist=name, phase=phase, now=self.now)))
        return decision_id, True

    def outcome(self, decision_id: str, ok: bool, detail: str) -> None:
        """What acting on the decision did (after the effects that acted); a decision keeps its first."""
        if self.night.book.outcome(decision_id, ok, detail, self.now):
            self.emit(WriteOutcome(decision_id, ok, detail))

    def send(self, name: str, command: TrainerCommand) -> None:
        self.emit(Send(name, command))

    def save(self, throttle: bool = False) -> None:
        """run_state.json, with each specialist's interventions counted from the book."""
        run = self.night.run
        if throttle and self.now - run.updated_at < SAVE_EVERY_S:
            return
        run.updated_at = self.now
        for name, spec in run.specialists.items():
            spec.interventions = self.night.book.interventions(name)
        self.emit(SaveState())
