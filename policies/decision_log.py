"""The append-only decision log: one JSON line per decision, written before acting, and one per outcome.

A decision line has "kind": "decision"; once the action is done the supervisor appends an outcome line
("kind": "outcome") naming the same `decision_id`. `read_log` merges the two, keeps the first copy of a
decision written twice (a restarted supervisor re-writing it) and the last outcome. Every line is written
with one write, then flushed and fsynced, so a crash can only tear the final line: `read_log` reports and
skips such a tail, and `append_record` cuts it off before appending so the file stays valid JSONL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.grade import Component, Grade, GradeSource, Letter
from policies.decisions import Action, CheckpointChoice, Decision, TrainParams, Trigger

logger = logging.getLogger(__name__)


class DecisionLogError(ValueError):
    """A decision log that cannot be read; the message names the file and line."""


class GradeRef(BaseModel):
    """The grade behind a decision, as the log keeps it: with its components' points, measured numbers and
    reasons, so the decision is explained from its own line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int = Field(ge=0, le=100)
    letter: Letter
    components: list[Component] = Field(default_factory=list)
    recommendation: str | None = Field(default=None, description="The LLM grader's advice.")


class Outcome(BaseModel):
    """What happened when the action was carried out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    detail: str
    time: datetime


class DecisionRecord(BaseModel):
    """One decision, explainable from this line alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["decision"] = "decision"
    decision_id: str = Field(min_length=1, description="Unique per decision; outcome lines refer to it.")
    time: datetime = Field(description="When the decision was made (UTC).")
    run: str = Field(min_length=1)
    specialist: str = Field(min_length=1)
    phase: str = Field(min_length=1)
    epoch: int = Field(ge=0)
    step: int = Field(ge=0)
    trigger: Trigger
    grade: GradeRef | None = None
    grade_source: GradeSource | None = None
    fallback_reason: str | None = Field(default=None, description="Why the LLM grade was not used.")
    action: Action
    params_before: TrainParams
    params_after: TrainParams
    checkpoint: CheckpointChoice | None
    reason: str
    outcome: Outcome | None = Field(default=None, description="Filled in from the outcome line.")

    @classmethod
    def from_decision(cls, decision: Decision, *, run: str, specialist: str, phase: str,
                      grade: Grade | None = None, decision_id: str | None = None,
                      time: datetime | None = None) -> DecisionRecord:
        """The log line for `decision`; `decision_id` defaults to a random one (see make_decision_id)."""
        return cls(
            decision_id=decision_id or uuid.uuid4().hex,
            time=time or datetime.now(UTC),
            run=run, specialist=specialist, phase=phase,
            epoch=decision.trigger.epoch, step=decision.trigger.step, trigger=decision.trigger,
            grade=GradeRef(score=grade.score, letter=grade.letter, components=grade.components,
                           recommendation=grade.recommendation) if grade else None,
            grade_source=grade.source if grade else None,
            fallback_reason=grade.fallback_reason if grade else None,
            action=decision.action, params_before=decision.params_before, params_after=decision.params_after,
            checkpoint=decision.checkpoint, reason=decision.reason,
        )


class OutcomeRecord(BaseModel):
    """The second line of a decision: written after the action, referring to the decision by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["outcome"] = "outcome"
    decision_id: str = Field(min_length=1)
    ok: bool
    detail: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))


class DecisionLog(BaseModel):
    """A read log: decisions with their outcomes merged in, and the torn final line if there was one."""

    model_config = ConfigDict(frozen=True)

    records: list[DecisionRecord]
    torn_line: int | None = Field(default=None, description="1-based number of a torn, skipped final line.")


def make_decision_id(*parts: object) -> str:
    """A stable id from the parts that make an event unique (run, specialist, the trainer's event number...),
    so a restarted supervisor handling the same event again writes the same id and readers dedupe it."""
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:20]


def _cut_torn_tail(path: Path) -> None:
    """Drop a final line without its newline: a write that crashed before it finished (never acted upon)."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        logger.warning("decision log %s: cutting a torn final line of %d bytes before appending", path,
                       len(data) - keep)
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def append_record(path: str | Path, record: DecisionRecord | OutcomeRecord) -> None:
    """Append one record as one JSON line and fsync it; creates the file (and its directory) if needed."""
    path = Path(path)
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        _cut_torn_tail(path)
    line = record.model_dump_json() + "\n"
    with path.open("ab") as handle:
        handle.write(line.encode())
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        # The new directory entry must survive a crash too.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def append_outcome(path: str | Path, decision_id: str, *, ok: bool, detail: str) -> OutcomeRecord:
    record = OutcomeRecord(decision_id=decision_id, ok=ok, detail=detail)
    append_record(path, record)
    return record


def _parse_line(path: Path, number: int, line: str) -> DecisionRecord | OutcomeRecord:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise DecisionLogError(
            f"{path}:{number}: not JSON ({error.msg} at column {error.colno}); the log is append-only, "
            "so this line was damaged outside Overnight: restore or remove it"
        ) from error
    kind = data.get("kind") if isinstance(data, dict) else None
    model = {"decision": DecisionRecord, "outcome": OutcomeRecord}.get(str(kind))
    if model is None:
        raise DecisionLogError(f"{path}:{number}: 'kind' is {kind!r}; expected 'decision' or 'outcome'")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
                    for detail in error.errors(include_url=False)]
        shown = "; ".join(problems[:6]) + ("; ..." if len(problems) > 6 else "")
        raise DecisionLogError(f"{path}:{number}: invalid {kind} record ({len(problems)} problem(s)): "
                               f"{shown}") from error


def load_log(path: str | Path) -> DecisionLog:
    """Read a decision log; a missing file is an empty log. Raises DecisionLogError naming file:line."""
    path = Path(path)
    if not path.exists():
        return DecisionLog(records=[])
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    torn_line = None
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        # No final newline: the last write was torn by a crash. Skip it, but say so.
        torn_line = len(lines)
        logger.warning("decision log %s:%d: torn final line skipped (%d characters)", path, torn_line,
                       len(lines[-1]))
        lines.pop()
    decisions: dict[str, DecisionRecord] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse_line(path, number, line)
        if isinstance(record, DecisionRecord):
            decisions.setdefault(record.decision_id, record)
            continue
        decision = decisions.get(record.decision_id)
        if decision is None:
            raise DecisionLogError(f"{path}:{number}: outcome for unknown decision_id "
                                   f"{record.decision_id!r}; outcomes must follow their decision line")
        outcome = Outcome(ok=record.ok, detail=record.detail, time=record.time)
        decisions[record.decision_id] = decision.model_copy(update={"outcome": outcome})
    return DecisionLog(records=list(decisions.values()), torn_line=torn_line)


def read_log(path: str | Path) -> list[DecisionRecord]:
    """The decisions of a log, oldest first, outcomes merged; a torn final line is logged and skipped."""
    return load_log(path).records
