"""The supervisor's decisions: one per event key, in the log before anything acts on it, its outcome after.

A decision's id is made from the run, the specialist and the event's key, so a retried event (or the same
event seen again by a restarted supervisor) finds its decision here instead of taking a second one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from agents.grade import Grade
from policies.decision_log import (
    DecisionRecord,
    Outcome,
    append_outcome,
    append_record,
    make_decision_id,
    read_log,
)
from policies.decisions import Decision

NOT_APPLIED = "not applied"
"""How an outcome starts when its decision could not act (its phase had ended): no budget, no cool-down."""
log = structlog.get_logger(__name__)


class DecisionBook:
    """The run's decision log, read once and kept in memory, appended to as decisions are taken."""

    def __init__(self, log_path: Path, run: str) -> None:
        self.log_path = log_path
        self.run = run
        self.records: dict[str, DecisionRecord] = {
            record.decision_id: record for record in read_log(log_path)
        }
        self.checkpoints_seen: dict[str, int] = {}
        """Decision id -> checkpoints of its phase when it was taken (the policies' cool-down needs it)."""

    def __len__(self) -> int:
        return len(self.records)

    def known(self, name: str, key: tuple[Any, ...]) -> tuple[str, Decision | None]:
        """The id for this event, and its decision when one was already taken."""
        decision_id = make_decision_id(self.run, name, *key)
        record = self.records.get(decision_id)
        return decision_id, as_decision(record) if record is not None else None

    def write(
        self,
        decision_id: str,
        decision: Decision,
        specialist: str,
        phase: str,
        grade: Grade | None = None,
        checkpoints_seen: int | None = None,
    ) -> None:
        """Append the decision to the log (before anything acts on it)."""
        record = DecisionRecord.from_decision(
            decision, run=self.run, specialist=specialist, phase=phase, grade=grade, decision_id=decision_id
        )
        append_record(self.log_path, record)
        self.records[decision_id] = record
        if checkpoints_seen is not None:
            self.checkpoints_seen[decision_id] = checkpoints_seen
        log.info(
            "decision",
            specialist=specialist,
            trigger=decision.trigger.kind.value,
            action=decision.action.value,
            reason=decision.reason,
        )

    def outcome(self, decision_id: str, ok: bool, detail: str) -> None:
        """Append what acting on the decision did; a decision keeps its first outcome."""
        record = self.records.get(decision_id)
        if record is None or record.outcome is not None:
            return
        written = append_outcome(self.log_path, decision_id, ok=ok, detail=detail)
        self.records[decision_id] = record.model_copy(
            update={"outcome": Outcome(ok=written.ok, detail=written.detail, time=written.time)}
        )

    def applied(self, name: str) -> list[tuple[str, DecisionRecord]]:
        """The decisions about `name` that acted (or may still act), oldest first."""
        return [
            (decision_id, record)
            for decision_id, record in self.records.items()
            if record.specialist == name and was_applied(record)
        ]

    def interventions(self, name: str) -> int:
        """Policy interventions spent on `name` (user controls and unapplied decisions do not count)."""
        return sum(1 for _, record in self.applied(name) if as_decision(record).counts_as_intervention)


def was_applied(record: DecisionRecord) -> bool:
    """False for a decision whose phase ended before it could act: it spends no budget, holds no cool-down."""
    return record.outcome is None or not record.outcome.detail.startswith(NOT_APPLIED)


def as_decision(record: DecisionRecord) -> Decision:
    """A logged decision, as the policies' model (for a retried event that was already decided)."""
    return Decision(
        action=record.action,
        trigger=record.trigger,
        params_before=record.params_before,
        params_after=record.params_after,
        checkpoint=record.checkpoint,
        reason=record.reason,
    )
