"""The continuous-training queue: jobs by priority, persisted in queue.json under a file lock.

The supervisor and the `overnight queue` commands both change it, so every change is a locked
read-modify-write of the file (`locked_queue`), and the file is replaced atomically. Finished jobs stay
in the file as history; `active()` is what waits or runs.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fileio.atomic import write_json_atomic

QUEUE_FILE = "queue.json"
LOCK_FILE = ".queue.lock"
PRIORITIES: tuple[str, ...] = ("high", "normal", "low")
Priority = Literal["high", "normal", "low"]
JobState = Literal["queued", "running", "completed", "failed", "removed"]
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})


class JobResult(BaseModel):
    """What a finished job measured, and what the regression guard made of it."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str | None = None
    """The job's best checkpoint (by exact match on the job's own val split)."""
    baseline_exact_match: float | None = None
    """The promoted checkpoint's exact match on the specialist's standing val set, before the job."""
    exact_match: float | None = None
    """The job's checkpoint's exact match on the same standing val set."""
    promoted: bool = False
    reason: str = ""


class Job(BaseModel):
    """One accepted inbox file: continue training `specialist` on it for `epochs` epochs."""

    model_config = ConfigDict(extra="forbid")

    id: str
    specialist: str
    priority: Priority
    epochs: int = Field(ge=1)
    source: str
    """The file's name as the user dropped it."""
    file: str
    """Where the file is now (inbox/processing/ while it waits or trains, then completed/ or failed/)."""
    sha256: str
    corpus_dir: str
    """The job's train/val split (jobs/<id>/corpus)."""
    val_note: str = ""
    """Where the val split came from (the file's records marked "split": "val", or carved out)."""
    state: JobState = "queued"
    order: float = 0.0
    """Position within its priority: lower goes first (a preempted job is put in front)."""
    submitted_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    preemptions: int = 0
    preempting: str | None = None
    """The high-priority job this one is making room for (it is being checkpointed and stopped)."""
    init_checkpoint: str | None = None
    """The promoted checkpoint the job continues (fixed at its first start, so a resumed job keeps it)."""
    base_dir: str | None = None
    """The base model that checkpoint was trained on (promoted.json's coordinator)."""
    error: str | None = None
    result: JobResult | None = None


class JobQueue(BaseModel):
    """Every job of a run, and the content hashes already accepted (so a file is trained once)."""

    model_config = ConfigDict(extra="forbid")

    next_number: int = 1
    jobs: list[Job] = Field(default_factory=list)
    seen: dict[str, str] = Field(default_factory=dict)
    """sha256 of an accepted file -> its job id."""

    def new_id(self) -> str:
        job_id = f"job-{self.next_number:04d}"
        self.next_number += 1
        return job_id

    def get(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        known = ", ".join(job.id for job in self.active()) or "none waiting or running"
        raise KeyError(f"no job {job_id!r} in the queue; jobs: {known} (see `overnight queue list --all`)")

    def add(self, job: Job) -> None:
        """Queue `job` at the back of its priority."""
        job.order = self._back_of(job.priority, job)
        self.jobs.append(job)
        self.seen[job.sha256] = job.id

    def active(self) -> list[Job]:
        """Waiting and running jobs, in the order they run: priority, then position."""
        return sorted((job for job in self.jobs if job.state in ACTIVE_STATES), key=run_order)

    def waiting(self) -> list[Job]:
        return [job for job in self.active() if job.state == "queued"]

    def running(self) -> Job | None:
        return next((job for job in self.jobs if job.state == "running"), None)

    def to_front(self, job: Job) -> None:
        """Put `job` before every other job of its priority (a preempted job resumes first)."""
        same = [other.order for other in self.jobs if other.priority == job.priority and other is not job]
        job.order = min(same, default=1.0) - 1.0

    def set_priority(self, job_id: str, priority: Priority) -> Job:
        job = self.get(job_id)
        if job.state not in ACTIVE_STATES:
            raise ValueError(f"{job_id} is {job.state}; only waiting or running jobs can change priority")
        if job.priority != priority:
            job.priority = priority
            job.order = self._back_of(priority, job)
        return job

    def _back_of(self, priority: str, job: Job) -> float:
        """The position behind every other job of `priority`."""
        same = [other.order for other in self.jobs if other.priority == priority and other is not job]
        return max(same, default=0.0) + 1.0


def run_order(job: Job) -> tuple[int, float]:
    return PRIORITIES.index(job.priority), job.order


def outranks(job: Job, running: Job) -> bool:
    """Whether waiting `job` preempts `running`: only high preempts, and only normal or low work."""
    return job.priority == "high" and running.priority != "high"


def read_queue(run_dir: Path) -> JobQueue:
    """The run's queue (empty when none was written yet); an unreadable file says what to do."""
    path = run_dir / QUEUE_FILE
    if not path.is_file():
        return JobQueue()
    try:
        return JobQueue.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise RuntimeError(
            f"{path} is not a valid job queue ({str(err).splitlines()[0]}); the inbox folders still hold "
            "every file: move it aside and the supervisor starts a new queue"
        ) from None


@contextmanager
def locked_queue(run_dir: Path) -> Iterator[JobQueue]:
    """Read the queue under an exclusive lock; what the block changes is written back atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            queue = read_queue(run_dir)
            before = queue.model_dump(mode="json")
            yield queue
            after = queue.model_dump(mode="json")
            if after != before:
                write_json_atomic(run_dir / QUEUE_FILE, after)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def queue_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The waiting and running jobs as plain rows, in run order (`overnight status` and `queue list`)."""
    return [job_row(job) for job in read_queue(run_dir).active()]


def job_row(job: Job) -> dict[str, Any]:
    result = job.result
    return {
        "id": job.id,
        "specialist": job.specialist,
        "priority": job.priority,
        "state": "preempting" if job.preempting else job.state,
        "epochs": job.epochs,
        "source": job.source,
        "preemptions": job.preemptions,
        "exact_match": result.exact_match if result else None,
        "baseline_exact_match": result.baseline_exact_match if result else None,
        "promoted": result.promoted if result else None,
        "error": job.error,
    }
