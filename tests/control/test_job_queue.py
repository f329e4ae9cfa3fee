"""The persisted job queue: run order by priority and position, its errors, and the locked file."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from control.job_queue import (
    LOCK_FILE,
    QUEUE_FILE,
    Job,
    JobQueue,
    JobResult,
    locked_queue,
    outranks,
    queue_rows,
    read_queue,
)


def job(queue: JobQueue, priority: str = "normal", **fields: Any) -> Job:
    """A job with the queue's next id (its content hash follows the id, so each is distinct)."""
    job_id = queue.new_id()
    data: dict[str, Any] = {
        "id": job_id,
        "specialist": "ascii",
        "priority": priority,
        "epochs": 1,
        "source": f"{job_id}.jsonl",
        "file": f"/inbox/processing/{job_id}--{job_id}.jsonl",
        "sha256": f"hash-{job_id}",
        "corpus_dir": f"/run/jobs/{job_id}/corpus",
        "submitted_at": 1000.0,
        **fields,
    }
    return Job(**data)


def queued(queue: JobQueue, *priorities: str) -> list[Job]:
    jobs = [job(queue, priority) for priority in priorities]
    for each in jobs:
        queue.add(each)
    return jobs


def ids(jobs: list[Job]) -> list[str]:
    return [each.id for each in jobs]


def test_new_ids_count_up_and_add_records_the_hash() -> None:
    queue = JobQueue()
    first, second = queued(queue, "normal", "normal")
    assert (first.id, second.id) == ("job-0001", "job-0002")
    assert queue.next_number == 3
    assert queue.seen == {"hash-job-0001": "job-0001", "hash-job-0002": "job-0002"}
    assert (first.order, second.order) == (1.0, 2.0)


def test_run_order_is_priority_then_arrival() -> None:
    queue = JobQueue()
    low, normal1, high1, normal2, high2 = queued(queue, "low", "normal", "high", "normal", "high")
    assert ids(queue.active()) == ids([high1, high2, normal1, normal2, low])
    # each priority counts its own positions
    assert [high1.order, high2.order, low.order] == [1.0, 2.0, 1.0]


def test_finished_jobs_leave_the_active_list_and_running_is_not_waiting() -> None:
    queue = JobQueue()
    first, second, third, fourth = queued(queue, "normal", "normal", "normal", "normal")
    first.state = "completed"
    second.state = "failed"
    third.state = "running"
    assert ids(queue.active()) == ["job-0003", "job-0004"]
    assert ids(queue.waiting()) == ["job-0004"]
    assert queue.running() is third
    fourth.state = "removed"
    third.state = "completed"
    assert queue.active() == []
    assert queue.running() is None
    assert len(queue.jobs) == 4  # finished jobs stay as history


def test_add_after_history_goes_behind_it() -> None:
    queue = JobQueue()
    (old,) = queued(queue, "normal")
    old.state = "completed"
    (new,) = queued(queue, "normal")
    assert new.order > old.order


def test_to_front_puts_a_preempted_job_first_in_its_priority() -> None:
    queue = JobQueue()
    normal1, normal2, high, normal3 = queued(queue, "normal", "normal", "high", "normal")
    queue.to_front(normal3)
    assert ids(queue.active()) == ids([high, normal3, normal1, normal2])
    assert normal3.order == 0.0
    queue.to_front(normal2)
    assert ids(queue.active()) == ids([high, normal2, normal3, normal1])


def test_to_front_alone_in_its_priority() -> None:
    queue = JobQueue()
    (only,) = queued(queue, "low")
    queue.to_front(only)
    assert only.order == 0.0
    assert queue.active() == [only]


def test_set_priority_moves_to_the_back_of_the_new_priority() -> None:
    queue = JobQueue()
    high1, low, high2 = queued(queue, "high", "low", "high")
    assert queue.set_priority(low.id, "high") is low
    assert low.priority == "high"
    assert ids(queue.active()) == ids([high1, high2, low])
    assert low.order == 3.0


def test_set_priority_to_the_same_keeps_the_position() -> None:
    queue = JobQueue()
    first, second = queued(queue, "normal", "normal")
    queue.set_priority(first.id, "normal")
    assert first.order == 1.0
    assert ids(queue.active()) == ids([first, second])


def test_a_running_job_may_change_priority() -> None:
    queue = JobQueue()
    (running,) = queued(queue, "low")
    running.state = "running"
    queue.set_priority(running.id, "normal")
    assert running.priority == "normal"


@pytest.mark.parametrize("state", ["completed", "failed", "removed"])
def test_set_priority_of_a_finished_job_says_why(state: str) -> None:
    queue = JobQueue()
    (done,) = queued(queue, "normal")
    done.state = state  # type: ignore[assignment]
    with pytest.raises(ValueError, match=rf"job-0001 is {state}; only waiting or running jobs can change"):
        queue.set_priority(done.id, "high")
    assert done.priority == "normal"


def test_get_unknown_job_lists_the_active_ones() -> None:
    queue = JobQueue()
    *_, third = queued(queue, "low", "high", "normal")
    third.state = "completed"
    with pytest.raises(KeyError, match=r"no job 'job-0009' in the queue; jobs: job-0002, job-0001 \(see"):
        queue.get("job-0009")
    with pytest.raises(KeyError, match=r"no job 'job-0009'"):
        queue.set_priority("job-0009", "high")
    assert queue.get("job-0003") is third  # a finished job is still found


def test_get_on_an_empty_queue() -> None:
    with pytest.raises(KeyError, match=r"jobs: none waiting or running \(see `overnight queue list --all`\)"):
        JobQueue().get("job-0001")


@pytest.mark.parametrize(
    ("waiting", "running", "preempts"),
    [
        ("high", "normal", True),
        ("high", "low", True),
        ("high", "high", False),
        ("normal", "low", False),
        ("normal", "normal", False),
        ("low", "normal", False),
        ("low", "high", False),
    ],
)
def test_outranks_only_high_over_lower(waiting: str, running: str, preempts: bool) -> None:
    queue = JobQueue()
    assert outranks(job(queue, waiting), job(queue, running)) is preempts


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"epochs": 0}, r"epochs\n  Input should be greater than or equal to 1"),
        ({"priority": "urgent"}, r"priority\n  Input should be 'high', 'normal' or 'low'"),
        ({"state": "paused"}, r"state\n  Input should be 'queued'"),
        ({"epoch": 2}, r"epoch\n  Extra inputs are not permitted"),
    ],
)
def test_job_fields_are_checked(change: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        job(JobQueue(), **change)


def test_read_queue_without_a_file_is_empty(tmp_path: Path) -> None:
    queue = read_queue(tmp_path)
    assert queue == JobQueue()
    assert not (tmp_path / QUEUE_FILE).exists()


@pytest.mark.parametrize("text", ['{"jobs": [', '{"jobs": 3}', '{"next_number": 1, "surprise": true}', ""])
def test_read_queue_on_a_corrupt_file_names_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / QUEUE_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"is not a valid job queue \(") as caught:
        read_queue(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path} is not a valid job queue")
    assert "move it aside and the supervisor starts a new queue" in message
    assert "\n" not in message  # one line: only the first line of pydantic's report


def test_locked_queue_round_trips_a_job(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with locked_queue(run_dir) as queue:
        (added,) = queued(queue, "high")
        added.result = JobResult(checkpoint="/c", exact_match=0.5, promoted=True, reason="ok")
    assert read_queue(run_dir) == queue
    assert sorted(path.name for path in run_dir.iterdir()) == sorted([LOCK_FILE, QUEUE_FILE])


def test_locked_queue_writes_only_when_changed(tmp_path: Path) -> None:
    with locked_queue(tmp_path) as queue:
        queue.active()
    assert not (tmp_path / QUEUE_FILE).exists()
    # a compact file stays byte for byte as it is (the writer indents), so it was not rewritten
    compact = json.dumps(JobQueue(next_number=7).model_dump(mode="json"), separators=(",", ":"))
    (tmp_path / QUEUE_FILE).write_text(compact, encoding="utf-8")
    with locked_queue(tmp_path) as queue:
        assert queue.next_number == 7
        queue.waiting()
    assert (tmp_path / QUEUE_FILE).read_text(encoding="utf-8") == compact
    with locked_queue(tmp_path) as queue:
        queue.new_id()
    assert json.loads((tmp_path / QUEUE_FILE).read_text(encoding="utf-8"))["next_number"] == 8


def test_sequential_locked_blocks_see_each_others_changes(tmp_path: Path) -> None:
    with locked_queue(tmp_path) as queue:
        queued(queue, "normal", "low")
    with locked_queue(tmp_path) as queue:
        assert ids(queue.active()) == ["job-0001", "job-0002"]
        queue.set_priority("job-0002", "high")
        queued(queue, "normal")
    with locked_queue(tmp_path) as queue:
        assert ids(queue.active()) == ["job-0002", "job-0001", "job-0003"]
        assert queue.seen["hash-job-0003"] == "job-0003"


def test_a_failing_block_writes_nothing(tmp_path: Path) -> None:
    with locked_queue(tmp_path) as queue:
        queued(queue, "normal")
    before = (tmp_path / QUEUE_FILE).read_bytes()
    with pytest.raises(RuntimeError, match="boom"), locked_queue(tmp_path) as queue:
        queued(queue, "high")
        raise RuntimeError("boom")
    assert (tmp_path / QUEUE_FILE).read_bytes() == before
    with locked_queue(tmp_path) as queue:  # and the lock was released
        assert ids(queue.active()) == ["job-0001"]


def test_a_second_locker_waits_for_the_first(tmp_path: Path) -> None:
    entered = threading.Event()

    def other() -> None:
        with locked_queue(tmp_path) as queue:
            entered.set()
            queued(queue, "low")

    with locked_queue(tmp_path) as queue:
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.3), "the second block ran while the first held the lock"
        queued(queue, "high")
    thread.join(timeout=10)
    assert entered.is_set()
    assert [(each.id, each.priority) for each in read_queue(tmp_path).active()] == [
        ("job-0001", "high"),
        ("job-0002", "low"),
    ]


def test_queue_rows_in_run_order(tmp_path: Path) -> None:
    assert queue_rows(tmp_path) == []
    with locked_queue(tmp_path) as queue:
        normal, high, done = queued(queue, "normal", "high", "low")
        normal.state = "running"
        normal.preempting = high.id
        normal.preemptions = 1
        done.state = "completed"
        done.result = JobResult(exact_match=0.75, baseline_exact_match=0.5, promoted=True)
        high.error = "not yet"
    rows = queue_rows(tmp_path)
    assert rows == [
        {
            "id": "job-0002",
            "specialist": "ascii",
            "priority": "high",
            "state": "queued",
            "epochs": 1,
            "source": "job-0002.jsonl",
            "preemptions": 0,
            "exact_match": None,
            "baseline_exact_match": None,
            "promoted": None,
            "error": "not yet",
        },
        {
            "id": "job-0001",
            "specialist": "ascii",
            "priority": "normal",
            "state": "preempting",
            "epochs": 1,
            "source": "job-0001.jsonl",
            "preemptions": 1,
            "exact_match": None,
            "baseline_exact_match": None,
            "promoted": None,
            "error": None,
        },
    ]


def test_queue_rows_carry_a_result(tmp_path: Path) -> None:
    with locked_queue(tmp_path) as queue:
        (running,) = queued(queue, "low")
        running.state = "running"
        running.result = JobResult(exact_match=0.25, baseline_exact_match=0.5, promoted=False)
    (row,) = queue_rows(tmp_path)
    assert (row["state"], row["exact_match"], row["baseline_exact_match"], row["promoted"]) == (
        "running",
        0.25,
        0.5,
        False,
    )
