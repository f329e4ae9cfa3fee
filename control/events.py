"""What the supervisor's machine hears: typed events, each stamped with the time the executor took it in.

The Ray layer turns every call it gets (a trainer's report, a fault, a finished train(), a watchdog's grade,
a user's control, the loop's tick) into one of these at its boundary; the machine never sees a raw dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.grade import Grade
from agents.metrics import MetricWindow
from control.inbox import Intake
from control.job_queue import JobQueue
from training.events import Fault, TrainingEvent


@dataclass(frozen=True)
class Start:
    """`start()`: begin the night, or re-attach to it after a restart (`alive`: trainers that exist now)."""

    now: float
    watch: bool = False
    attach: bool = True
    """Start the trainers marked running (the first start() of this supervisor process)."""
    alive: frozenset[str] = frozenset()
    queue: JobQueue | None = None
    """The queue as on disk, for trainers running a job (None when none does)."""


@dataclass(frozen=True)
class ActorStarted:
    """A trainer's process came up: the first, one the supervisor restarted, or a crash Ray restarted."""

    now: float
    specialist: str
    pid: int


@dataclass(frozen=True)
class Reported:
    """A trainer's event: a step, an evaluation, a heartbeat, a checkpoint, a phase's start or end."""

    now: float
    specialist: str
    event: TrainingEvent


@dataclass(frozen=True)
class FaultReported:
    """A hard fault at a step; the trainer waits for the answer (FaultAnswer) before it goes on."""

    now: float
    specialist: str
    fault: Fault


@dataclass(frozen=True)
class TrainerDone:
    """A train() call ended: `result` when it returned, `error` when it raised."""

    now: float
    specialist: str
    ok: bool
    result: dict[str, object] | None = None
    error: str = ""
    job: str | None = None
    """The job that call trained (None: the night's phases)."""


@dataclass(frozen=True)
class Tick:
    """The loop's beat: trainers lost for good, heartbeats to check, work to schedule, jobs to settle."""

    now: float
    lost: tuple[tuple[str, str], ...] = ()
    """(specialist, error) of trainers whose actor died for good."""
    queue: JobQueue | None = None
    """The job queue, read under its lock for this tick (None when the night runs no queue)."""
    promoted: dict[str, Any] | None = None
    """promoted.json's contents when the queue was read (a job continues the checkpoint it serves)."""


@dataclass(frozen=True)
class InboxArrived:
    """A settled inbox file, already assessed (read, validated, split) under the queue's lock."""

    now: float
    intake: Intake
    queue: JobQueue


@dataclass(frozen=True)
class Graded:
    """The watchdog graded a window the machine asked for (GradeWindow)."""

    now: float
    specialist: str
    grade: Grade
    window: MetricWindow
    phase_ended: bool
    rollbacks: int


@dataclass(frozen=True)
class GradeFailed:
    """The watchdog could not grade a window: it goes ungraded."""

    now: float
    specialist: str


@dataclass(frozen=True)
class ControlRequested:
    """`overnight ctl pause|resume|stop|skip <specialist>`."""

    now: float
    specialist: str
    action: str
    request_id: str | None = None


@dataclass(frozen=True)
class StopRunRequested:
    """`overnight ctl stop-run`: stop every specialist still going, and the inbox."""

    now: float
    request_id: str


@dataclass(frozen=True)
class Carried:
    """What carrying out an effect did, when only the world could tell (a file's new place, a promotion)."""

    now: float
    decision_id: str
    ok: bool
    detail: str
    job: str | None = None
    """A job whose promotion this was: a failed one leaves it unpromoted."""


SupervisorEvent = (
    Start
    | ActorStarted
    | Reported
    | FaultReported
    | TrainerDone
    | Tick
    | InboxArrived
    | Graded
    | GradeFailed
    | ControlRequested
    | StopRunRequested
    | Carried
)
