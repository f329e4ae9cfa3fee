"""The inbox without Ray: which files arrive, how each is judged (job, rejection, skip) and where it moves."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, cast

import pytest

from control.inbox import (
    LIFECYCLE,
    Arrival,
    Intake,
    IntakeRules,
    arrivals,
    assess,
    carry_out,
    decision_key,
    finish_file,
    make_inbox,
)
from control.job_queue import JobQueue, Priority
from hlx.corpus_io import Example, read_corpus, record_from_json
from tests.control.continuous_fixtures import drop, drop_raw, tiny_records

RULES = IntakeRules(specialists=("ascii", "runic"), epochs=2, val_fraction=0.25, seed=0)
RECORDS = tiny_records()[:8]
NOW = 1_700_000_000.0


def example(record: dict[str, Any]) -> Example:
    return record_from_json(record, "records", 0)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "inbox"
    make_inbox(root)
    return root


def run_dir(inbox: Path) -> Path:
    return inbox.parent / "run"


def sidecar(path: Path, content: Any) -> Path:
    side = path.with_name(path.name + ".meta.json")
    side.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return side


def judge(inbox: Path, path: Path, queue: JobQueue | None = None, rules: IntakeRules = RULES) -> Intake:
    """Assess a file where it lies: its folder is its priority."""
    priority = cast(Priority, path.parent.name)
    return assess(Arrival(path, priority), run_dir(inbox), JobQueue() if queue is None else queue, rules)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def aged(path: Path, modified: float) -> Path:
    os.utime(path, (modified, modified))
    return path


# --- make_inbox and arrivals ---------------------------------------------------------------------------


def test_make_inbox_creates_every_folder_and_can_run_again(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "inbox"
    make_inbox(root)
    (root / "high" / "kept.jsonl").write_text("x", encoding="utf-8")
    make_inbox(root)
    assert names(root) == sorted(["high", "normal", "low", *LIFECYCLE])
    assert names(root / "high") == ["kept.jsonl"]


def test_arrivals_wait_for_the_file_to_settle(inbox: Path) -> None:
    path = aged(drop(inbox, "normal", "a.jsonl", RECORDS), NOW - 0.5)
    assert arrivals(inbox, settle_s=1.0, now=NOW) == []
    assert arrivals(inbox, settle_s=0.5, now=NOW) == [Arrival(path, "normal")]
    assert arrivals(inbox, settle_s=0.0, now=NOW) == [Arrival(path, "normal")]


def test_arrivals_skip_hidden_files_sidecars_and_folders(inbox: Path) -> None:
    path = aged(drop(inbox, "high", "a.jsonl", RECORDS), NOW - 10)
    aged(sidecar(path, {"specialist": "ascii"}), NOW - 10)
    aged(drop_raw(inbox, "high", ".b.jsonl.part", "{}\n"), NOW - 10)
    (inbox / "high" / "folder.jsonl").mkdir()
    assert arrivals(inbox, settle_s=1.0, now=NOW) == [Arrival(path, "high")]


def test_arrivals_come_oldest_first_across_priorities(inbox: Path) -> None:
    high = aged(drop(inbox, "high", "h.jsonl", RECORDS), NOW - 5)
    low = aged(drop(inbox, "low", "l.jsonl", RECORDS), NOW - 30)
    normal_b = aged(drop(inbox, "normal", "b.jsonl", RECORDS), NOW - 20)
    normal_a = aged(drop(inbox, "normal", "a.jsonl", RECORDS), NOW - 20)
    found = arrivals(inbox, settle_s=1.0, now=NOW)
    assert found == [
        Arrival(low, "low"),
        Arrival(normal_a, "normal"),
        Arrival(normal_b, "normal"),
        Arrival(high, "high"),
    ]


def test_arrivals_without_the_folders(tmp_path: Path) -> None:
    assert arrivals(tmp_path / "nowhere", settle_s=0.0) == []


# --- accepted files ------------------------------------------------------------------------------------


def test_a_file_without_val_records_gets_a_carved_val_split(inbox: Path) -> None:
    path = drop(inbox, "normal", "more.jsonl", RECORDS, specialist="ascii")
    queue = JobQueue()
    intake = judge(inbox, path, queue)
    assert intake.outcome == "accepted"
    assert intake.source == "more.jsonl"
    assert (len(intake.train), len(intake.val)) == (6, 2)
    assert sorted(e.id for e in intake.train + intake.val) == sorted(r["id"] for r in RECORDS)
    assert intake.reason == (
        "6 train / 2 val examples for ascii, 2 epochs; "
        "no val split in the file: 2 of 8 records carved out as val"
    )
    job = intake.job
    assert job is not None
    assert (job.id, job.specialist, job.priority, job.epochs, job.source) == (
        "job-0001",
        "ascii",
        "normal",
        2,
        "more.jsonl",
    )
    assert job.val_note == "no val split in the file: 2 of 8 records carved out as val"
    assert job.corpus_dir == str(run_dir(inbox) / "jobs" / "job-0001" / "corpus")
    # assess reads only: the id is reserved but nothing moved or queued yet
    assert queue.next_number == 2
    assert queue.jobs == [] and queue.seen == {}
    assert path.is_file()


def test_the_carved_split_is_seeded(inbox: Path) -> None:
    path = drop(inbox, "normal", "more.jsonl", RECORDS, specialist="ascii")

    def carved(seed: int) -> tuple[str, ...]:
        rules = IntakeRules(RULES.specialists, RULES.epochs, RULES.val_fraction, seed)
        return tuple(e.id for e in judge(inbox, path, rules=rules).val)

    assert carved(0) == carved(0)
    assert len({carved(seed) for seed in range(6)}) > 1, "the seed never changes the carved split"


def test_carry_out_writes_the_splits_moves_the_file_and_queues_the_job(inbox: Path) -> None:
    path = drop(inbox, "high", "more.jsonl", RECORDS, specialist="runic")
    queue = JobQueue()
    intake = judge(inbox, path, queue)
    moved = carry_out(intake, inbox, queue)
    assert moved == inbox / "processing" / "job-0001--more.jsonl"
    assert moved.is_file() and not path.exists()
    job = queue.get("job-0001")
    assert job.file == str(moved)
    assert job.priority == "high"
    assert queue.seen == {intake.sha256: "job-0001"}
    corpus = Path(job.corpus_dir)
    assert read_corpus(corpus / "train.jsonl") == intake.train
    assert read_corpus(corpus / "val.jsonl") == intake.val


def test_records_marked_val_are_the_val_split(inbox: Path) -> None:
    records = [*RECORDS[:5], *({**record, "split": "val"} for record in RECORDS[5:]), {**RECORDS[0]}]
    records[-1]["id"] = "tiny/extra"
    records[-1]["instruction"] += " (again)"
    records[-1]["split"] = "train"
    path = drop(inbox, "normal", "marked.jsonl", records, specialist="ascii")
    intake = judge(inbox, path)
    assert intake.outcome == "accepted", intake.problems
    assert [e.id for e in intake.val] == [r["id"] for r in RECORDS[5:]]
    assert [e.id for e in intake.train] == [*(r["id"] for r in RECORDS[:5]), "tiny/extra"]
    assert intake.job is not None
    assert intake.job.val_note == 'val split: the 3 records marked "split": "val"'


def test_a_file_of_val_records_only_trains_on_them(inbox: Path) -> None:
    path = drop(inbox, "normal", "val.jsonl", RECORDS[:3], specialist="ascii", split="val")
    intake = judge(inbox, path)
    assert intake.outcome == "accepted"
    assert intake.train == intake.val == [example(r) for r in RECORDS[:3]]


def test_one_record_is_both_splits(inbox: Path) -> None:
    path = drop(inbox, "low", "one.jsonl", RECORDS[:1], specialist="ascii")
    intake = judge(inbox, path)
    assert intake.train == intake.val == [example(RECORDS[0])]
    assert intake.job is not None
    assert intake.job.val_note == "one record only: it is both the train and the val split"


def test_the_sidecar_names_specialist_and_epochs_and_moves_with_the_file(inbox: Path) -> None:
    path = drop(inbox, "normal", "side.jsonl", RECORDS)
    sidecar(path, {"specialist": "runic", "epochs": 3})
    queue = JobQueue()
    intake = judge(inbox, path, queue)
    assert intake.job is not None
    assert (intake.specialist, intake.job.specialist, intake.job.epochs) == ("runic", "runic", 3)
    carry_out(intake, inbox, queue)
    assert names(inbox / "processing") == ["job-0001--side.jsonl", "job-0001--side.jsonl.meta.json"]
    assert names(inbox / "normal") == []


def test_the_sidecar_wins_over_the_records(inbox: Path) -> None:
    path = drop(inbox, "normal", "side.jsonl", RECORDS, specialist="ascii")
    sidecar(path, {"specialist": "runic"})
    intake = judge(inbox, path)
    assert intake.outcome == "accepted"
    assert intake.specialist == "runic"
    assert intake.job is not None and intake.job.epochs == RULES.epochs


def test_warnings_do_not_reject(inbox: Path) -> None:
    # the same instruction twice is a warning of the validator, not a reason to refuse the file
    records = [*RECORDS[:3], {**RECORDS[0], "id": "tiny/copy"}]
    path = drop(inbox, "normal", "dup.jsonl", records, specialist="ascii")
    assert judge(inbox, path).outcome == "accepted"


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


# --- finishing -----------------------------------------------------------------------------------------


def accepted(inbox: Path, name: str = "a.jsonl", with_sidecar: bool = True) -> tuple[Any, JobQueue]:
    queue = JobQueue()
    if with_sidecar:
        path = drop(inbox, "normal", name, RECORDS)
        sidecar(path, {"specialist": "ascii"})
    else:
        path = drop(inbox, "normal", name, RECORDS, specialist="ascii")
    carry_out(judge(inbox, path, queue), inbox, queue)
    return queue.get("job-0001"), queue


def test_finish_file_moves_a_completed_job(inbox: Path) -> None:
    job, _ = accepted(inbox)
    moved = finish_file(job, inbox, ok=True)
    assert moved == inbox / "completed" / "job-0001--a.jsonl"
    assert names(inbox / "completed") == ["job-0001--a.jsonl", "job-0001--a.jsonl.meta.json"]
    assert names(inbox / "processing") == []


def test_finish_file_gives_a_failure_its_error(inbox: Path) -> None:
    job, _ = accepted(inbox)
    moved = finish_file(job, inbox, ok=False, error="trainer died at step 12")
    assert moved == inbox / "failed" / "job-0001--a.jsonl"
    assert (inbox / "failed" / "job-0001--a.jsonl.error.txt").read_text(encoding="utf-8") == (
        "job-0001 (a.jsonl, specialist ascii) failed:\ntrainer died at step 12\n"
        "Its checkpoints are kept under <run dir>/ascii/job-0001/.\n"
    )
    assert (inbox / "failed" / "job-0001--a.jsonl.meta.json").is_file()


def test_finish_file_without_a_reason(inbox: Path) -> None:
    job, _ = accepted(inbox, with_sidecar=False)
    moved = finish_file(job, inbox, ok=False)
    assert "failed:\nno reason given\n" in moved.with_name(moved.name + ".error.txt").read_text(
        encoding="utf-8"
    )
    assert names(inbox / "failed") == ["job-0001--a.jsonl", "job-0001--a.jsonl.error.txt"]


def test_finish_file_twice_moves_nothing(inbox: Path) -> None:
    job, _ = accepted(inbox)
    finish_file(job, inbox, ok=True)
    assert finish_file(job, inbox, ok=False, error="late") == Path(job.file)
    assert names(inbox / "failed") == []


# --- bugs ----------------------------------------------------------------------------------------------


def test_a_large_val_fraction_keeps_a_train_split(inbox: Path) -> None:
    # val_fraction may be anything below 1 (settings/run.py); 2 records at 0.8 round to 2 val records
    path = drop(inbox, "normal", "two.jsonl", RECORDS[:2], specialist="ascii")
    intake = judge(inbox, path, rules=IntakeRules(("ascii",), 1, 0.8))
    assert intake.train, f"empty train split: {intake.reason}"


def test_never_overwrites_when_the_stamped_name_is_taken(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 123)  # a coarse clock: two moves in the same tick
    for content in ("{one\n", "{two\n", "{three\n"):
        path = drop_raw(inbox, "normal", "bad.jsonl", content)
        queue = JobQueue()
        carry_out(judge(inbox, path, queue), inbox, queue)
    kept = sorted(p.read_text(encoding="utf-8") for p in (inbox / "rejected").glob("*.jsonl"))
    assert kept == ["{one\n", "{three\n", "{two\n"]


def test_never_overwrites_a_sidecar_left_in_the_folder(inbox: Path) -> None:
    # an earlier bad.jsonl was taken out of rejected/ to be fixed, its sidecar left there
    (inbox / "rejected" / "bad.jsonl.meta.json").write_text('{"specialist": "old"}', encoding="utf-8")
    path = drop_raw(inbox, "normal", "bad.jsonl", "{nope\n")
    sidecar(path, {"specialist": "new"})
    queue = JobQueue()
    carry_out(judge(inbox, path, queue), inbox, queue)
    kept = sorted(p.read_text(encoding="utf-8") for p in (inbox / "rejected").glob("*.meta.json"))
    assert kept == ['{"specialist": "new"}', '{"specialist": "old"}']
