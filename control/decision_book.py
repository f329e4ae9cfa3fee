"""The night's decisions in memory: one per event key, each with its first outcome (pure; the executor
appends the same records to decisions.jsonl).

A decision's id is made from the run, the specialist and the event's key, so a retried event (or the same
event seen again by a restarted supervisor) finds its decision here instead of taking a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.grade import Grade
from policies.decision_log import DecisionRecord, Outcome, make_decision_id, read_log
from policies.decisions import Decision

NOT_APPLIED = "not applied"
"""How an outcome starts when its decision could not act (its phase had ended): no budget, no cool-down."""


class DecisionBook:
    """The run's decisions, as the log holds them (read once at start), plus those taken since."""

    def __init__(self, run: str, records: list[DecisionRecord] | None = None) -> None:
        self.run = run
        self.records: dict[str, DecisionRecord] = {record.decision_id: record for record in records or []}
        self.checkpoints_seen: dict[str, int] = {}
        """Decision id -> checkpoints of its phase when it was taken (the policies' cool-down needs it)."""

    @classmethod
    def read(cls, log_path: Path, run: str) -> DecisionBook:
        """The book of the log at `log_path` (empty when there is none yet)."""
        return cls(run, read_log(log_path))

    def __len__(self) -> int:
        return len(self.records)

    def known(self, name: str, key: tuple[Any, ...]) -> tuple[str, Decision | None]:
        """The id for this event, and its decision when one was already taken."""
        decision_id = make_decision_id(self.run, name, *key)
        record = self.records.get(decision_id)
        return decision_id, as_decision(record) if record is not None else None

    def add(
        self,
        decision_id: str,
        decision: Decision,
        specialist: str,
        phase: str,
        now: float,
        grade: Grade | None = None,
        checkpoints_seen: int | None = None,
    ) -> DecisionRecord:
        """Keep the decision; the record returned is the log line to write before anything acts on it."""
        record = DecisionRecord.from_decision(
            decision, run=self.run, specialist=specialist, phase=phase, grade=grade, decision_id=decision_id,
            time=datetime.fromtimestamp(now, UTC),
        )  # fmt: skip
        self.records[decision_id] = record
        if checkpoints_seen is not None:
            self.checkpoints_seen[decision_id] = checkpoints_seen
        return record

    def outcome(self, decision_id: str, ok: bool, detail: str, now: float) -> bool:
        """Attach what acting on the decision did; False (nothing to write) when it has one already."""
        record = self.records.get(decision_id)
        if record is None or record.outcome is not None:
            return False
        outcome = Outcome(ok=ok, detail=detail, time=datetime.fromtimestamp(now, UTC))
        self.records[decision_id] = record.model_copy(update={"outcome": outcome})
        return True

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
