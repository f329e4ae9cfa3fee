"""The inbox without Ray: files it rejects (every problem with its line) and files it skips as duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from control.inbox import (
    Intake,
    arrivals,
    assess,
    carry_out,
    decision_key,
)
from control.job_queue import JobQueue
from tests.control.continuous_fixtures import drop, drop_raw, tiny_records
from tests.control.inbox_fixtures import RECORDS, RULES, judge, names, run_dir, sidecar

# --- rejected files ------------------------------------------------------------------------------------


def rejected(inbox: Path, path: Path) -> tuple[Intake, str]:
    """Judge a file that must be rejected, carry it out, and return the intake and its error file."""
    queue = JobQueue()
    intake = judge(inbox, path, queue)
    assert intake.outcome == "rejected", intake.reason
    assert intake.job is None
    assert intake.reason == f"{len(intake.problems)} problem(s), first: {intake.problems[0]}"
    moved = carry_out(intake, inbox, queue)
    assert moved == inbox / "rejected" / path.name
    assert moved.is_file() and not path.exists()
    assert queue == JobQueue(), "a rejection changed the queue"
    return intake, (inbox / "rejected" / f"{path.name}.error.txt").read_text(encoding="utf-8")


def lines_of(records: list[dict[str, Any]], **fields: Any) -> list[str]:
    return [json.dumps({**record, **fields}) for record in records]


def test_invalid_json_is_rejected_with_its_line(inbox: Path) -> None:
    text = "\n".join([*lines_of(RECORDS[:2], specialist="ascii"), "{nope", ""])
    path = drop_raw(inbox, "normal", "bad.jsonl", text)
    intake, error = rejected(inbox, path)
    assert intake.problems == [
        "bad.jsonl:3: [invalid_json] not JSON (Expecting property name enclosed in double quotes at column 2)"
    ]
    assert error.startswith(
        "bad.jsonl (dropped into normal/) was rejected: 1 problem(s).\nFix them and drop the file again.\n\n"
    )
    assert "bad.jsonl:3: [invalid_json] not JSON" in error


def test_every_problem_is_listed_with_its_line(inbox: Path) -> None:
    text = "\n".join(["{nope", *lines_of(RECORDS[:1]), '{"foo": 1}', "[1]", ""])
    path = drop_raw(inbox, "high", "bad.jsonl", text)
    intake, error = rejected(inbox, path)
    assert [problem.split(" ", 2)[:2] for problem in intake.problems] == [
        ["bad.jsonl:1:", "[invalid_json]"],
        ["bad.jsonl:3:", "[unknown_shape]"],
        ["bad.jsonl:4:", "[unknown_shape]"],
    ]
    assert "bad.jsonl:3: [unknown_shape] keys ['foo'] match no known shape" in intake.problems[1]
    assert "(dropped into high/) was rejected: 3 problem(s)." in error
    assert all(problem in error for problem in intake.problems)


def test_an_empty_file_is_rejected(inbox: Path) -> None:
    intake, _ = rejected(inbox, drop_raw(inbox, "normal", "empty.jsonl", "\n\n"))
    assert intake.problems == ["empty.jsonl: holds no records; a corpus needs at least one JSONL line"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{specialist: ascii", "bad.jsonl.meta.json: not a JSON object (Expecting property name"),
        ('["ascii"]', "bad.jsonl.meta.json: expected a JSON object, got list"),
        (
            {"specialist": "ascii", "epoch": 2, "lr": 1},
            "bad.jsonl.meta.json: unknown keys ['epoch', 'lr']; allowed: specialist, epochs",
        ),
    ],
)
def test_a_bad_sidecar_is_rejected_and_moves_with_the_file(inbox: Path, content: Any, problem: str) -> None:
    path = drop(inbox, "normal", "bad.jsonl", RECORDS)
    sidecar(path, content)
    intake, error = rejected(inbox, path)
    assert intake.problems[0].startswith(problem)
    assert problem in error
    assert names(inbox / "rejected") == ["bad.jsonl", "bad.jsonl.error.txt", "bad.jsonl.meta.json"]


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True, "2"])
def test_bad_epochs_are_rejected(inbox: Path, epochs: Any) -> None:
    path = drop(inbox, "normal", "bad.jsonl", RECORDS)
    sidecar(path, {"specialist": "ascii", "epochs": epochs})
    intake, _ = rejected(inbox, path)
    assert intake.problems == [f"bad.jsonl.meta.json: epochs must be a whole number >= 1, got {epochs!r}"]


def test_records_naming_two_specialists_are_rejected_with_their_lines(inbox: Path) -> None:
    named = ["ascii", "runic", "ascii", "runic"]
    records = [{**record, "specialist": name} for record, name in zip(RECORDS, named, strict=False)]
    path = drop(inbox, "normal", "two.jsonl", records)
    intake, error = rejected(inbox, path)
    assert intake.problems == [
        "two.jsonl: records name different specialists ('ascii' at lines 1, 3; 'runic' at lines 2, 4); "
        "one file trains one"
    ]
    assert intake.problems[0] in error


def test_records_partly_naming_a_specialist_are_rejected(inbox: Path) -> None:
    records = [
        {**RECORDS[0], "specialist": "runic"},
        RECORDS[1],
        {**RECORDS[2], "specialist": "runic"},
        RECORDS[3],
    ]
    intake, _ = rejected(inbox, drop(inbox, "low", "part.jsonl", records))
    assert intake.problems == ["part.jsonl: lines 2, 4 name no specialist while others name 'runic'"]


def test_many_lines_are_cut_short(inbox: Path) -> None:
    records = [{**RECORDS[0], "specialist": "ascii"}, *tiny_records()[1:13]]
    intake, _ = rejected(inbox, drop(inbox, "low", "part.jsonl", records))
    assert intake.problems == [
        "part.jsonl: lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more "
        "name no specialist while others name 'ascii'"
    ]


@pytest.mark.parametrize("where", ["sidecar", "records"])
def test_an_unknown_specialist_lists_the_known_ones(inbox: Path, where: str) -> None:
    if where == "sidecar":
        path = drop(inbox, "normal", "who.jsonl", RECORDS)
        sidecar(path, {"specialist": "poetry"})
    else:
        path = drop(inbox, "normal", "who.jsonl", RECORDS, specialist="poetry")
    intake, _ = rejected(inbox, path)
    assert intake.problems == ["who.jsonl: no specialist 'poetry' in this run; known: ascii, runic"]


def test_a_file_naming_no_specialist_says_how_to_name_one(inbox: Path) -> None:
    intake, error = rejected(inbox, drop(inbox, "normal", "anon.jsonl", RECORDS))
    (problem,) = intake.problems
    assert "anon.jsonl: names no specialist" in problem
    assert "`overnight submit FILE --specialist NAME`" in problem
    assert 'anon.jsonl.meta.json holding {"specialist": "NAME"}' in problem
    assert "--specialist NAME" in error


def test_a_rejection_never_overwrites_an_earlier_one(inbox: Path) -> None:
    first = drop_raw(inbox, "normal", "bad.jsonl", "{first\n")
    rejected(inbox, first)
    second = drop_raw(inbox, "normal", "bad.jsonl", "{second\n")
    queue = JobQueue()
    moved = carry_out(judge(inbox, second, queue), inbox, queue)
    assert moved.parent == inbox / "rejected"
    assert moved.name.startswith("bad-") and moved.suffix == ".jsonl"
    assert (inbox / "rejected" / "bad.jsonl").read_text(encoding="utf-8") == "{first\n"
    assert moved.read_text(encoding="utf-8") == "{second\n"
    assert (moved.parent / f"{moved.name}.error.txt").is_file()
    assert len(names(inbox / "rejected")) == 4


# --- duplicates ----------------------------------------------------------------------------------------


def test_the_same_content_again_is_skipped(inbox: Path) -> None:
    queue = JobQueue()
    first = drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    carry_out(judge(inbox, first, queue), inbox, queue)
    again = drop(inbox, "high", "a-copy.jsonl", RECORDS, specialist="ascii")
    sidecar(again, {"specialist": "runic"})
    before = queue.model_copy(deep=True)
    intake = judge(inbox, again, queue)
    assert intake.outcome == "skipped"
    assert intake.job is None
    assert intake.specialist == "ascii"
    assert intake.reason == f"same content (sha256 {intake.sha256[:12]}) as job-0001 from a.jsonl (queued)"
    moved = carry_out(intake, inbox, queue)
    assert moved == inbox / "skipped" / "a-copy.jsonl"
    assert names(inbox / "skipped") == ["a-copy.jsonl", "a-copy.jsonl.meta.json"]
    assert names(inbox / "high") == []
    assert queue == before


def test_a_skip_names_the_earlier_jobs_state(inbox: Path) -> None:
    queue = JobQueue()
    first = drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    carry_out(judge(inbox, first, queue), inbox, queue)
    queue.get("job-0001").state = "completed"
    again = drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    assert judge(inbox, again, queue).reason.endswith("as job-0001 from a.jsonl (completed)")


def test_a_file_dropped_again_gets_its_own_decision_key(inbox: Path) -> None:
    # Same bytes, same name, same folder: the log must still keep a `skip_duplicate` decision for the second
    # drop, so its key differs from the first drop's `queue_job` key (issue 12 §5).
    queue = JobQueue()
    drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    [arrival] = arrivals(inbox, settle_s=0.0)
    [seen_again] = arrivals(inbox, settle_s=0.0)
    first = assess(arrival, run_dir(inbox), queue, RULES)
    # Seen twice before it moved (a restarted supervisor): one event, one key.
    assert decision_key(first) == decision_key(assess(seen_again, run_dir(inbox), JobQueue(), RULES))
    carry_out(first, inbox, queue)
    drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    [again] = arrivals(inbox, settle_s=0.0)
    skipped = assess(again, run_dir(inbox), queue, RULES)
    assert (first.outcome, skipped.outcome) == ("accepted", "skipped")
    same_file = ("inbox", first.sha256, "a.jsonl", "normal")
    assert decision_key(skipped)[:4] == decision_key(first)[:4] == same_file
    assert decision_key(skipped) != decision_key(first)


@pytest.mark.parametrize("earlier", ["failed", "removed"])
def test_a_file_whose_job_failed_or_was_removed_is_a_retry(inbox: Path, earlier: str) -> None:
    queue = JobQueue()
    first = drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    carry_out(judge(inbox, first, queue), inbox, queue)
    queue.get("job-0001").state = earlier  # type: ignore[assignment]
    again = drop(inbox, "normal", "a.jsonl", RECORDS, specialist="ascii")
    intake = judge(inbox, again, queue)
    assert intake.outcome == "accepted" and intake.job is not None and intake.job.id == "job-0002"
    carry_out(intake, inbox, queue)
    assert queue.seen == {intake.sha256: "job-0002"}


def test_a_rejected_file_is_not_seen(inbox: Path) -> None:
    queue = JobQueue()
    first = drop(inbox, "normal", "a.jsonl", RECORDS)  # names no specialist
    carry_out(judge(inbox, first, queue), inbox, queue)
    fixed = drop(inbox, "normal", "a.jsonl", RECORDS)  # the same content, now with a sidecar
    sidecar(fixed, {"specialist": "ascii"})
    assert queue.seen == {}
    assert judge(inbox, fixed, queue).outcome == "accepted"
