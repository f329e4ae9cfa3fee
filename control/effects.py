"""What the supervisor's machine asks the world to do; the executor in actors/supervisor.py does it, in order.

Order is the contract: a decision's WriteDecision comes before the effects that act on it, and its
WriteOutcome after them, so the log always holds a decision before its command reaches a trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.metrics import MetricWindow
from control.commands import TrainerCommand
from control.inbox import Intake
from policies.decision_log import DecisionRecord


@dataclass(frozen=True)
class WriteDecision:
    """Append the decision to decisions.jsonl (fsynced) before anything acts on it."""

    record: DecisionRecord


@dataclass(frozen=True)
class WriteOutcome:
    """Append what acting on a decision did."""

    decision_id: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Send:
    """Deliver a command to the specialist's trainer (it takes effect at the next step boundary)."""

    specialist: str
    command: TrainerCommand


@dataclass(frozen=True)
class StartTrainer:
    """Create the trainer if missing and call its train(job); job None trains the night's phases."""

    specialist: str
    job: dict[str, Any] | None = None


@dataclass(frozen=True)
class RestartTrainer:
    """Kill the trainer's process; Ray restarts it and its train() resumes from its checkpoint."""

    specialist: str


@dataclass(frozen=True)
class KillTrainer:
    """Stop the trainer for good (its CPUs or GPU go to the ones still training)."""

    specialist: str


@dataclass(frozen=True)
class GradeWindow:
    """Ask the watchdog for a grade (off the machine: the answer comes back as Graded or GradeFailed)."""

    specialist: str
    window: MetricWindow
    phase_ended: bool
    rollbacks: int


@dataclass(frozen=True)
class AppendEvent:
    """A line of events/<specialist>.jsonl (the morning report's curves)."""

    specialist: str
    line: dict[str, Any]


@dataclass(frozen=True)
class SaveState:
    """Write run_state.json; `throttle`: at most once a second (step events)."""

    throttle: bool = False


@dataclass(frozen=True)
class PromotePhaseBest:
    """Serve the best checkpoint of a phase that ended (by val exact match) if it beats the served one."""

    specialist: str
    phase: str


@dataclass(frozen=True)
class Promote:
    """Serve the best checkpoint a finished train() returned, if it beats the served one."""

    specialist: str
    result: dict[str, Any]


@dataclass(frozen=True)
class PromoteJob:
    """Serve a job's checkpoint (its regression guard let it through); answered with Carried."""

    decision_id: str
    job: str
    specialist: str
    checkpoint: str
    exact_match: float | None
    base_dir: str | None


@dataclass(frozen=True)
class TakeIn:
    """Move an inbox file where its intake says (an accepted job is written and queued); answered with
    Carried."""

    decision_id: str
    intake: Intake


@dataclass(frozen=True)
class FinishJobFile:
    """Move a finished job's file to completed/ or failed/ (with its .error.txt) and note where it went."""

    job: str
    ok: bool
    error: str | None


@dataclass(frozen=True)
class WriteReport:
    """The night's plan is over: write the morning report and send the night-ended notice."""


@dataclass(frozen=True)
class NotifyAborted:
    """A specialist was aborted: the notifier tells the user."""

    specialist: str
    reason: str


@dataclass(frozen=True)
class CountDecision:
    """The metrics' count of decisions by action and trigger."""

    specialist: str
    action: str
    trigger: str


@dataclass(frozen=True)
class CountGrade:
    """The metrics' grade gauge."""

    specialist: str
    phase: str
    score: float
    source: str


@dataclass(frozen=True)
class Note:
    """A line in the supervisor's own log (structlog), with its fields."""

    message: str
    fields: dict[str, Any]
    warning: bool = False


@dataclass(frozen=True)
class Reply:
    """The answer of a call that waits for one: a fault's action and commands, a control's record."""

    value: dict[str, Any]


Effect = (
    WriteDecision
    | WriteOutcome
    | Send
    | StartTrainer
    | RestartTrainer
    | KillTrainer
    | GradeWindow
    | AppendEvent
    | SaveState
    | PromotePhaseBest
    | Promote
    | PromoteJob
    | TakeIn
    | FinishJobFile
    | WriteReport
    | NotifyAborted
    | CountDecision
    | CountGrade
    | Note
    | Reply
)
