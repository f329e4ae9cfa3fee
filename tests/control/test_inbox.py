"""The inbox without Ray: which files arrive, how an accepted one is split and queued, and how it finishes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from control.inbox import (
    LIFECYCLE,
    Arrival,
    IntakeRules,
    arrivals,
    carry_out,
    finish_file,
    make_inbox,
    submit_file,
)
from control.job_queue import JobQueue
from hlx.corpus_io import read_corpus
from tests.control.continuous_fixtures import drop, drop_raw
from tests.control.inbox_fixtures import NOW, RECORDS, RULES, aged, example, judge, names, run_dir, sidecar

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


# --- submitting -----------------------------------------------------------------------------------------


def test_submit_file_puts_the_sidecar_first_and_never_overwrites(inbox: Path, tmp_path: Path) -> None:
    source = tmp_path / "new.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in RECORDS), encoding="utf-8")
    first = submit_file(source, inbox / "high", {"specialist": "ascii", "epochs": 3})
    second = submit_file(source, inbox / "high", {"specialist": "runic"})
    assert (first.name, second.name) == ("new.jsonl", "new-1.jsonl")
    assert names(inbox / "high") == [
        "new-1.jsonl",
        "new-1.jsonl.meta.json",
        "new.jsonl",
        "new.jsonl.meta.json",
    ]
    assert first.read_bytes() == source.read_bytes()
    assert json.loads((inbox / "high" / "new-1.jsonl.meta.json").read_text(encoding="utf-8")) == {
        "specialist": "runic"
    }
    intake = judge(inbox, first)
    assert (intake.outcome, intake.job.specialist, intake.job.epochs) == ("accepted", "ascii", 3)


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
