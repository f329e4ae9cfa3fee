"""Tests of the decision log: one JSON line per record, outcome merging, dedupe, torn and damaged lines."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.evidence import assess
from agents.rubric import grade_with_rubric
from policies.decide import decide
from policies.decision_log import (
    DecisionLogError,
    DecisionRecord,
    OutcomeRecord,
    append_outcome,
    append_record,
    load_log,
    make_decision_id,
    read_log,
)
from policies.decisions import Action, Trigger
from tests.agents.window_factory import make_window
from tests.policies.histories import fresh

FIELDS = ["kind", "decision_id", "time", "run", "specialist", "phase", "epoch", "step", "trigger", "grade",
          "grade_source", "fallback_reason", "action", "params_before", "params_after", "checkpoint",
          "reason", "outcome"]


def record(decision_id: str = "d1", faults: list[str] | None = None, step: int = 400) -> DecisionRecord:
    """The record of a plateaued window graded F (55/100), with hard faults when `faults` are given."""
    window = make_window([1.0, 0.999, 0.998], exact=0.5, validity=0.9, faults=faults)
    grade = grade_with_rubric(window).model_copy(
        update={"fallback_reason": "timeout: no answer within 20.0s per attempt after 3 attempt(s)"})
    trigger = Trigger.grade(grade.letter, grade.score, step=step, epoch=4, evidence=assess(window))
    decision = decide(trigger, fresh())
    return DecisionRecord.from_decision(decision, run="run-1", specialist="ascii_specialist", phase="phase2",
                                        grade=grade, decision_id=decision_id,
                                        time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_a_record_is_one_json_line_with_every_documented_field(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    append_record(log, record())
    (line,) = log.read_text().splitlines()
    data = json.loads(line)
    assert list(data) == FIELDS
    assert data["time"] == "2025-01-02T03:04:05Z"
    assert (data["epoch"], data["step"], data["action"], data["checkpoint"]) == (4, 400, "halve_lr", None)
    assert data["trigger"]["kind"] == "grade"
    grade = data["grade"]
    assert (grade["score"], grade["letter"], grade["recommendation"]) == (55, "F", None)
    # The grade is explained from the line alone: every component with its points, numbers and reason.
    assert [(c["name"], c["points"]) for c in data["grade"]["components"]] == [
        ("loss_convergence", 30), ("validation_accuracy", 10), ("format_correctness", 5),
        ("progress_consistency", 10)]
    assert data["grade"]["components"][3]["measured"]["trailing_flat_epochs"] == 2
    assert data["grade"]["components"][3]["reason"].startswith("stall: last 2 epoch(s)")
    assert data["trigger"]["evidence"]["verdict"] == "plateaued"
    assert data["grade_source"] == "rubric"
    assert data["fallback_reason"].startswith("timeout")
    assert data["params_before"] == {"peak_lr": 2e-4, "micro_batch": 8, "grad_accum": 2, "epochs": None}
    assert data["params_after"] == {"peak_lr": 1e-4, "micro_batch": 8, "grad_accum": 2, "epochs": None}
    assert data["reason"] == ("grade F (55/100) at epoch 5; evidence plateaued: no gain beyond noise over "
                              "the last 3 evaluations: the val loss slope gains 0.10% of the val loss per "
                              "evaluation (<= plateau_tolerance 0.50%): halve LR 0.0002 -> 0.0001")
    assert data["outcome"] is None


def test_outcome_lines_are_merged_into_their_decision(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    append_record(log, record("d1"))
    append_record(log, record("d2"))
    append_outcome(log, "d1", ok=True, detail="LR now 1e-4, resumed at step 400")
    records = read_log(log)
    assert [r.decision_id for r in records] == ["d1", "d2"]
    assert records[0].outcome is not None
    assert (records[0].outcome.ok, records[0].outcome.detail) == (True, "LR now 1e-4, resumed at step 400")
    assert records[1].outcome is None
    assert len(log.read_text().splitlines()) == 3


def test_a_decision_written_twice_is_kept_once_and_the_last_outcome_wins(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    append_record(log, record("d1"))
    append_outcome(log, "d1", ok=False, detail="trainer did not answer")
    append_record(log, record("d1", faults=["oom at step 3"], step=999))
    append_outcome(log, "d1", ok=True, detail="retried after supervisor restart")
    (merged,) = read_log(log)
    assert merged.step == 400
    assert merged.outcome is not None
    assert merged.outcome.detail == "retried after supervisor restart"


def test_torn_final_line_is_reported_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "decisions.jsonl"
    append_record(log, record("d1"))
    with log.open("a") as handle:
        handle.write(record("d2").model_dump_json()[:50])
    with caplog.at_level(logging.WARNING, logger="policies.decision_log"):
        loaded = load_log(log)
    assert [r.decision_id for r in loaded.records] == ["d1"]
    assert loaded.torn_line == 2
    assert f"{log}:2: torn final line skipped (50 characters)" in caplog.text


def test_appending_after_a_torn_line_cuts_it_so_the_file_stays_valid(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    append_record(log, record("d1"))
    with log.open("a") as handle:
        handle.write('{"kind": "decision", "decis')
    append_record(log, record("d3"))
    loaded = load_log(log)
    assert [r.decision_id for r in loaded.records] == ["d1", "d3"]
    assert loaded.torn_line is None
    assert log.read_text().endswith("\n")


def test_damaged_middle_line_names_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    append_record(log, record("d1"))
    with log.open("a") as handle:
        handle.write("garbage\n")
    append_record(log, record("d2"))
    with pytest.raises(DecisionLogError, match=r"decisions.jsonl:2: not JSON \(Expecting value at column"):
        read_log(log)


@pytest.mark.parametrize(("line", "message"), [
    ('{"kind": "note"}', r"decisions.jsonl:1: 'kind' is 'note'; expected 'decision' or 'outcome'"),
    ("[1, 2]", r"decisions.jsonl:1: 'kind' is None"),
    ('{"kind": "decision", "decision_id": "x"}',
     r"decisions.jsonl:1: invalid decision record \(12 problem\(s\)\): time: Field required; run: Field"),
    ('{"kind": "outcome", "decision_id": "nope", "ok": true, "detail": "d", "time": "2025-01-01T00:00"}',
     r"decisions.jsonl:1: outcome for unknown decision_id 'nope'; outcomes must follow their decision line"),
])
def test_invalid_lines_are_errors_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text(line + "\n")
    with pytest.raises(DecisionLogError, match=message):
        read_log(log)


def test_missing_log_is_empty_and_append_creates_directories(tmp_path: Path) -> None:
    log = tmp_path / "run-1" / "logs" / "decisions.jsonl"
    assert read_log(log) == []
    append_record(log, OutcomeRecord(decision_id="d0", ok=True, detail="x"))
    assert log.exists()


def test_record_without_grade_for_a_fault(tmp_path: Path) -> None:
    decision = decide(Trigger.non_finite("loss=nan", step=77, epoch=2), fresh())
    line = DecisionRecord.from_decision(decision, run="r", specialist="s", phase="p")
    assert (line.grade, line.grade_source, line.fallback_reason) == (None, None, None)
    assert (line.action, line.checkpoint, line.step, line.epoch) == (Action.ROLLBACK, "last_good", 77, 2)
    assert len(line.decision_id) == 32


def test_decision_ids_are_stable_per_event_and_distinct_across_events() -> None:
    assert make_decision_id("run-1", "ascii", 17) == make_decision_id("run-1", "ascii", 17)
    assert make_decision_id("run-1", "ascii", 17) != make_decision_id("run-1", "ascii", 18)
    assert make_decision_id("a", "bc") != make_decision_id("ab", "c")


def test_non_finite_numbers_survive_the_log(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    decision = decide(Trigger.divergence(math.inf, 2.5, step=9), fresh())
    append_record(log, DecisionRecord.from_decision(decision, run="r", specialist="s", phase="p"))
    assert '"loss":"Infinity"' in log.read_text()
    (read_back,) = read_log(log)
    assert read_back.trigger.loss == math.inf
    assert read_back.trigger.best_loss == 2.5
