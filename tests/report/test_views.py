"""Tests for the terminal views: status and decision tables rendered to text, JSON lines, tailing the log."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from control.run_files import read_decisions, read_run_state
from control.run_state import LastGrade, RunState, SpecialistState
from report.views import (
    as_dict,
    changed_params,
    decision_row,
    decision_table,
    follow_log,
    format_grade,
    format_number,
    format_time,
    humanize_seconds,
    log_line_text,
    outcome_text,
    render_json_lines,
    status_table,
    trigger_text,
)
from tests.actors.fixtures_run import write_fake_run


def render(table: Table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def row_of(text: str, first_cell: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(f"│ {first_cell} ")]
    assert len(rows) == 1, f"expected one row starting with {first_cell!r} in:\n{text}"
    return rows[0]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(None, "—"), (float("nan"), "—"), (-1.0, "—"), (0.0, "0s"), (59.4, "59s"), (60.0, "1m 00s"),
     (3599.0, "59m 59s"), (3600.0, "1h 00m"), (3_900.0, "1h 05m"), (90_000.0, "1d 01h")],
)
def test_humanize_seconds(seconds: float | None, expected: str) -> None:
    assert humanize_seconds(seconds) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "—"), (2e-4, "2.0e-04"), (0.0, "0"), (0.51634, "0.5163"), (4, "4"), (True, "True"),
     (float("nan"), "nan"), ("x", "x")],
)
def test_format_number(value: object, expected: str) -> None:
    assert format_number(value) == expected


def test_format_grade_shows_source_and_fallback() -> None:
    assert format_grade({"score": 84.4, "letter": "B"}, "llm") == "B 84 (llm)"
    fell_back = format_grade({"score": 71, "letter": "C"}, "rubric", "timeout")
    assert fell_back == "C 71 (rubric; LLM fell back: timeout)"
    assert format_grade(None, None) == "—"


def test_changed_params_lists_only_what_changed() -> None:
    before = {"peak_lr": 2e-4, "micro_batch": 4, "grad_accum": 4}
    assert changed_params(before, {**before, "micro_batch": 2, "grad_accum": 8}) == (
        "grad_accum 4 → 8, micro_batch 4 → 2"
    )
    assert changed_params(before, before) == "—"
    assert changed_params(None, {"peak_lr": 1e-4}) == "peak_lr — → 1.0e-04"


def test_status_table_of_the_fixture_shows_every_cell(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path, pending=("late",))
    state = read_run_state(fake.run_dir)
    state["specialists"]["late"].update(
        state="running", phase="phase1_general", phase_index=0, epoch=2, epochs_total=4, loss=1.23456,
        lr=2e-4, micro_batch=4, grad_accum=4, eta_s=3_900.0, last_grade=None,
    )
    text = render(status_table(state))
    assert f"run {fake.run} · finished" in text
    headers = ("specialist", "phase", "epoch", "step", "loss", "last grade", "LR", "micro-batch × accum")
    for header in (*headers, "state", "ETA"):
        assert header in text
    ascii_row = row_of(text, "ascii")
    for cell in ("phase2_specialist (2/2)", "6/6", " 200 ", "A 96 (llm)", "5.0e-05", "4 × 4", "finished"):
        assert cell in ascii_row
    assert "2 × 8" in row_of(text, "runic")
    late_row = row_of(text, "late")
    # Epochs count from 1: the event's epoch 2 is the third of four.
    for cell in ("phase1_general (1/2)", "3/4", "1.235", "2.0e-04", "running", "1h 05m"):
        assert cell in late_row


def test_status_table_of_a_pending_specialist_and_of_no_specialists() -> None:
    pending = {"state": "pending", "phase": None, "epoch": 0, "eta_s": 10.0, "reason": "waiting for a GPU"}
    text = render(status_table({"run": "r", "status": "running", "specialists": {"p": pending}}))
    row = row_of(text, "p")
    assert "pending (waiting for a GPU)" in row
    assert "10s" not in row
    assert "no specialists yet" in render(status_table({"run": "r", "status": "running", "specialists": {}}))


def test_decision_rows_of_the_fixture(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    rows = {record["decision_id"]: decision_row(record) for record in read_decisions(fake.run_dir)}
    by_action = {record["action"]: record["decision_id"] for record in fake.decisions}
    halve = rows[by_action["halve_lr"]]
    assert halve[1:] == ["ascii", "phase1_general/5", "grade", "D 64 (llm)", "halve_lr",
                         "peak_lr 2.0e-04 → 1.0e-04",
                         "grade D (64/100) at epoch 5: loss plateaued for 2 epochs; halve the LR",
                         "ok: halve_lr done"]
    assert halve[0] == format_time(next(d for d in fake.decisions if d["action"] == "halve_lr")["time"])
    shrink = rows[by_action["shrink_batch"]]
    # Only the parameters that changed, one per line; the rollback names the checkpoint it resumes from.
    assert shrink[3:7] == ["oom: CUDA out of memory", "—", "shrink_batch (from last_good)",
                           "grad_accum 4 → 8\nmicro_batch 4 → 2"]
    assert rows[by_action["rollback"]][3] == "non_finite: loss is nan"
    flagged = [row for row in rows.values() if row[1] == "runic" and row[5] == "flag_for_review"]
    assert flagged[0][4] == "C 71 (rubric,\nLLM fell back: no ANTHROPIC_API_KEY set)"
    assert rows[fake.decisions[-1]["decision_id"]][-1] == "pending"


def test_decision_table_of_the_fixture(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    records = read_decisions(fake.run_dir)
    text = render(decision_table(records))
    for header in ("time", "specialist", "phase/epoch", "trigger", "grade", "action", "before → after",
                   "reason", "outcome"):
        assert header in text
    for cell in ("D 64 (llm)", "rollback (from", "ok: halve_lr done", "pending", "phase1_general/5"):
        assert cell in text
    lines = text.splitlines()
    halve = next(index for index, line in enumerate(lines) if "│ halve_lr" in line)
    assert "peak_lr 2.0e-04 →" in lines[halve] and "1.0e-04" in lines[halve + 1]  # wrapped in its column
    shrink = next(index for index, line in enumerate(lines) if "shrink_batch" in line)
    assert "grad_accum 4 → 8" in lines[shrink]
    assert "micro_batch 4 → 2" in lines[shrink + 1]
    assert "micro_batch 4 → 4" not in text
    assert len([line for line in lines if " 11-14 " in line]) == len(fake.decisions)
    runic_only = render(decision_table(records, specialist="runic"))
    assert "shrink_batch" in runic_only
    assert "halve_lr" not in runic_only
    assert "decisions for runic" in runic_only
    assert "no decisions yet" in render(decision_table(records, specialist="nobody"))


def test_log_line_text_of_a_decision_and_an_outcome(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    lines = [json.loads(line) for line in (fake.run_dir / "decisions.jsonl").read_text().splitlines()]
    decision, outcome = lines[0], lines[1]
    text = log_line_text(decision)
    start = (
        " · ascii · phase1_general/3 · grade · C 72 (rubric) · flag_for_review · — · "
        "grade C (72/100) at epoch 3"
    )
    assert text.startswith(format_time(decision["time"]) + start)
    assert "\n" not in text
    assert log_line_text(outcome) == (
        f"{format_time(outcome['time'])} · outcome of {decision['decision_id']} · ok: flag_for_review done"
    )


def test_format_time_reads_timestamps_datetimes_and_iso_strings() -> None:
    moment = datetime(2024, 3, 1, 2, 30, 5, tzinfo=UTC)
    expected = moment.astimezone().strftime("%m-%d %H:%M:%S")
    assert format_time(moment.timestamp()) == expected
    assert format_time(moment) == expected
    assert format_time("2024-03-01T02:30:05Z") == expected
    assert format_time("yesterday") == "—"
    assert format_time(None) == "—"


def test_trigger_and_outcome_text() -> None:
    assert trigger_text({"kind": "control", "detail": "", "requested": "skip_phase"}) == "control: skip_phase"
    assert trigger_text({"kind": "grade", "detail": ""}) == "grade"
    graded = {"kind": "grade", "detail": "", "evidence": {"verdict": "plateaued"}}
    assert trigger_text(graded) == "grade: plateaued"
    assert trigger_text(None) == "—"
    assert outcome_text({"ok": False, "detail": "trainer died"}) == "failed: trainer died"
    assert outcome_text({"ok": True, "detail": ""}) == "ok"
    assert outcome_text(None) == "pending"


def test_render_json_lines_round_trips(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    records = read_decisions(fake.run_dir)
    text = render_json_lines(records)
    assert text.endswith("\n")
    assert [json.loads(line) for line in text.splitlines()] == [as_dict(record) for record in records]
    assert render_json_lines([]) == ""


def test_as_dict_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="expected a DecisionRecord or a dict, got int: 3"):
        as_dict(3)


def test_follow_log_sees_appended_lines_and_waits_for_torn_ones(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    seen: list[dict[str, Any]] = []
    done = threading.Event()
    torn_written = threading.Event()

    def writer() -> None:
        time.sleep(0.05)
        with path.open("ab") as handle:
            for index in range(3):
                handle.write(json.dumps({"n": index}).encode() + b"\n")
                handle.flush()
                time.sleep(0.02)
            handle.write(b'{"n": 3, "reason": "half')
            handle.flush()
            torn_written.set()
            time.sleep(0.15)
            handle.write(b' a line"}\nnot json\n{"n": 4}\n')
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    offset = follow_log(path, seen.append, stop=done.is_set, poll_s=0.01)
    thread.join()
    assert torn_written.is_set()
    assert seen == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3, "reason": "half a line"}, {"n": 4}]
    assert offset == path.stat().st_size

    with path.open("ab") as handle:
        handle.write(b'{"n": 5}\n{"n": 6')
    more: list[dict[str, Any]] = []
    resumed = follow_log(path, more.append, stop=lambda: True, offset=offset)
    assert more == [{"n": 5}]
    assert resumed == path.stat().st_size - len(b'{"n": 6')


def test_follow_log_never_delivers_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2')
    seen: list[dict[str, Any]] = []
    calls = iter([False, False, True])
    follow_log(path, seen.append, stop=lambda: next(calls), poll_s=0.0)
    assert seen == [{"n": 1}]


def test_status_table_of_a_live_run_state_model() -> None:
    spec = SpecialistState(
        state="paused", phase="phase1_general", phase_index=0, phases_total=2, epoch=3, epochs_total=75,
        loss=0.75, lr=1e-4, micro_batch=2, grad_accum=8, eta_s=125.0, reason="user pause",
        last_grade=LastGrade(score=88, letter="B", source="rubric"),
    )
    state = RunState(run="live", config_path="configs/demo.yaml", specialists={"ascii": spec})
    row = row_of(render(status_table(state.model_dump(mode="json"))), "ascii")
    for cell in ("phase1_general (1/2)", "4/75", "0.75", "B 88 (rubric)", "1.0e-04", "2 × 8",
                 "paused (user pause)", "2m 05s"):
        assert cell in row
