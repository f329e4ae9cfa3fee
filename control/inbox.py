"""The inbox: files dropped into high/, normal/ or low/ are validated and become jobs, or are set aside.

Nothing the user gave is deleted: a file moves to processing/ (a job waits or trains on it), then to
completed/ or failed/; a bad one to rejected/ with a `.error.txt` beside it; a duplicate to skipped/.
A sidecar `<file>.meta.json` ({"specialist": ..., "epochs": ...}) travels with its file.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from control.job_queue import PRIORITIES, Job, JobQueue, Priority, locked_queue
from fileio.atomic import copy_file_atomic, write_text_atomic
from hlx.corpus_io import CorpusError, Example, read_corpus, write_corpus
from hlx.corpus_validate import validate_paths

LIFECYCLE = ("processing", "completed", "failed", "rejected", "skipped")
SIDECAR_SUFFIX = ".meta.json"
ERROR_SUFFIX = ".error.txt"
JOBS_DIR = "jobs"
MAX_LISTED_PROBLEMS = 200


def make_inbox(root: Path) -> None:
    """Create the priority and lifecycle folders (so a user sees where to drop files)."""
    for name in (*PRIORITIES, *LIFECYCLE):
        (root / name).mkdir(parents=True, exist_ok=True)


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def submit_file(source: Path, folder: Path, meta: dict[str, Any]) -> Path:
    """Drop a copy of `source` into the priority `folder`, with its sidecar `meta`, under a free name; returns
    the new file. The sidecar goes first and the file arrives by an atomic rename, so the supervisor never
    takes in one without the other."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    number = 1
    while target.exists():
        target = folder / f"{source.stem}-{number}{source.suffix}"
        number += 1
    write_text_atomic(sidecar_of(target), json.dumps(meta) + "\n")
    copy_file_atomic(source, target)
    return target


@dataclass(frozen=True)
class Arrival:
    """A settled file in a priority folder."""

    path: Path
    priority: Priority
    copy: str = field(default="", compare=False)
    """This copy on disk: device, inode and inode change time. A new drop, copy, move or submit (even of the
    same bytes under the same name) gives a new one; it stays the same while the file waits, so a restarted
    supervisor retakes the same decision instead of a second one."""


def arrivals(root: Path, settle_s: float, now: float | None = None) -> list[Arrival]:
    """Files ready to take in, oldest first; hidden files (a copy in progress, `submit`'s temp) wait."""
    now = time.time() if now is None else now
    found: list[tuple[float, Arrival]] = []
    for priority in PRIORITIES:
        folder = root / priority
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") or path.name.endswith(SIDECAR_SUFFIX) or not path.is_file():
                continue
            stat = path.stat()
            if now - stat.st_mtime >= settle_s:
                copy = f"{stat.st_dev}:{stat.st_ino}:{stat.st_ctime_ns}"
                found.append((stat.st_mtime, Arrival(path, priority, copy)))  # type: ignore[arg-type]
    return [arrival for _, arrival in sorted(found, key=lambda item: (item[0], str(item[1].path)))]


@dataclass
class Intake:
    """What to do with one arrival (`assess`), then done by `carry_out` once it is in the decision log."""

    outcome: Literal["accepted", "rejected", "skipped"]
    arrival: Arrival
    sha256: str
    reason: str
    specialist: str | None = None
    job: Job | None = None
    problems: list[str] = field(default_factory=list)
    train: list[Example] = field(default_factory=list)
    val: list[Example] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.arrival.path.name


@dataclass(frozen=True)
class IntakeRules:
    """What the run allows: its specialists, the default epochs and the carved val share."""

    specialists: tuple[str, ...]
    epochs: int
    val_fraction: float
    seed: int = 0


def assess(arrival: Arrival, run_dir: Path, queue: JobQueue, rules: IntakeRules) -> Intake:
    """Validate one file and decide: a job (with its train/val split), a rejection, or a duplicate skip.
    Reads only; the job id is reserved in `queue`."""
    path = arrival.path
    digest = file_digest(path)
    earlier = accepted_before(queue, digest)
    if earlier is not None:
        return Intake("skipped", arrival, digest, duplicate_reason(digest, earlier), earlier.specialist)
    problems, meta = _problems_and_meta(path)
    specialist, epochs, examples = None, rules.epochs, []
    if not problems:
        specialist, more = _specialist_of(path, meta, rules.specialists)
        epochs, epoch_problem = _epochs_of(path, meta, rules.epochs)
        problems += more + epoch_problem
    if not problems:
        examples, split_problems = _marked_splits(path)
        problems += split_problems
    if problems:
        reason = f"{len(problems)} problem(s), first: {problems[0]}"
        return Intake("rejected", arrival, digest, reason, specialist, problems=problems)
    job_id = queue.new_id()
    train, val, note = _split(examples, rules.val_fraction, random.Random(f"{rules.seed}:{digest}"))
    job = Job(
        id=job_id,
        specialist=str(specialist),
        priority=arrival.priority,
        epochs=epochs,
        source=path.name,
        file=str(path.parent.parent / "processing" / f"{job_id}--{path.name}"),
        sha256=digest,
        corpus_dir=str(run_dir / JOBS_DIR / job_id / "corpus"),
        val_note=note,
    )
    reason = f"{len(train)} train / {len(val)} val examples for {specialist}, {epochs} epochs; {note}"
    return Intake("accepted", arrival, digest, reason, specialist, job, train=train, val=val)


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes: what makes two files the same data."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def accepted_before(queue: JobQueue, digest: str) -> Job | None:
    """The job that already holds this content, or None. A job that failed or was removed does not count:
    dropping its file again is a retry, not a duplicate."""
    earlier = queue.get(queue.seen[digest]) if digest in queue.seen else None
    return earlier if earlier is not None and earlier.state not in ("failed", "removed") else None


def duplicate_reason(digest: str, earlier: Job) -> str:
    return f"same content (sha256 {digest[:12]}) as {earlier.id} from {earlier.source} ({earlier.state})"


def decision_key(intake: Intake) -> tuple[str, str, str, str, str]:
    """The decision-log key of taking in one arrival. Content, name and folder alone are not enough: the
    same file dropped (or submitted) again after its first copy moved on is a new event that needs its own
    `skip_duplicate` (or retry) decision, so the key names the copy on disk as well."""
    arrival = intake.arrival
    return ("inbox", intake.sha256, intake.source, arrival.priority, arrival.copy)


def carry_out(intake: Intake, root: Path, queue: JobQueue) -> Path:
    """Move the file where its outcome says (writing the job's splits and queueing it when accepted)."""
    path = intake.arrival.path
    if intake.outcome == "skipped":
        return _move_with_sidecar(path, root / "skipped")
    if intake.outcome == "rejected":
        return _reject(intake.arrival, root, intake.problems)
    assert intake.job is not None
    corpus_dir = Path(intake.job.corpus_dir)
    write_corpus(corpus_dir / "train.jsonl", intake.train)
    write_corpus(corpus_dir / "val.jsonl", intake.val)
    moved = _move_with_sidecar(path, root / "processing", prefix=f"{intake.job.id}--")
    intake.job.file = str(moved)
    queue.add(intake.job)
    return moved


def _problems_and_meta(path: Path) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    meta: dict[str, Any] = {}
    sidecar = sidecar_of(path)
    if sidecar.is_file():
        try:
            loaded = json.loads(sidecar.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(f'{sidecar.name}: not a JSON object ({err}); write {{"specialist": "NAME"}}')
        else:
            if isinstance(loaded, dict):
                meta = loaded
            else:
                problems.append(f"{sidecar.name}: expected a JSON object, got {type(loaded).__name__}")
            unknown = sorted(set(meta) - {"specialist", "epochs"})
            if unknown:
                problems.append(f"{sidecar.name}: unknown keys {unknown}; allowed: specialist, epochs")
    problems += [
        f"{path.name}:{p.line}: [{p.kind}] {p.message}" if p.line else f"{path.name}: {p.message}"
        for p in validate_paths([path]).blocking
    ]
    return problems, meta


def _specialist_of(path: Path, meta: dict[str, Any], known: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """From the sidecar, else from the records' "specialist" fields (which must agree)."""
    named: dict[str, list[int]] = {}
    unnamed: list[int] = []
    for number, record in _records(path):
        if "specialist" in record:
            named.setdefault(record["specialist"], []).append(number)
        else:
            unnamed.append(number)
    if meta.get("specialist") is not None:
        specialist = meta["specialist"]
    elif len(named) > 1:
        lines = "; ".join(f"{name!r} at lines {_lines(numbers)}" for name, numbers in named.items())
        return None, [f"{path.name}: records name different specialists ({lines}); one file trains one"]
    elif named and unnamed:
        name = next(iter(named))
        return None, [f"{path.name}: lines {_lines(unnamed)} name no specialist while others name {name!r}"]
    elif named:
        specialist = next(iter(named))
    else:
        return None, [
            f"{path.name}: names no specialist; use `overnight submit FILE --specialist NAME`, a sidecar "
            f'{path.name}{SIDECAR_SUFFIX} holding {{"specialist": "NAME"}}, or a "specialist" field '
            "on every record"
        ]
    if specialist not in known:
        return None, [f"{path.name}: no specialist {specialist!r} in this run; known: {', '.join(known)}"]
    return str(specialist), []


def _epochs_of(path: Path, meta: dict[str, Any], default: int) -> tuple[int, list[str]]:
    epochs = meta.get("epochs", default)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        return default, [f"{path.name}{SIDECAR_SUFFIX}: epochs must be a whole number >= 1, got {epochs!r}"]
    return epochs, []


def _marked_splits(path: Path) -> tuple[list[tuple[Example, str]], list[str]]:
    try:
        examples = read_corpus(path)
    except CorpusError as err:
        return [], [str(err)]
    splits = [record.get("split", "train") for _, record in _records(path)]
    return list(zip(examples, splits, strict=True)), []


def _split(
    examples: list[tuple[Example, str]], val_fraction: float, rng: random.Random
) -> tuple[list[Example], list[Example], str]:
    train = [example for example, split in examples if split == "train"]
    val = [example for example, split in examples if split == "val"]
    if val:
        return train or val, val, f'val split: the {len(val)} records marked "split": "val"'
    order = list(range(len(train)))
    rng.shuffle(order)
    # At least one val record, and at least one left to train on.
    count = min(len(train) - 1, max(1, round(len(train) * val_fraction))) if len(train) > 1 else 0
    carved = sorted(order[:count])
    carved_set = set(carved)
    kept = [example for index, example in enumerate(train) if index not in carved_set]
    if not carved:
        return train, train, "one record only: it is both the train and the val split"
    return (
        kept,
        [train[index] for index in carved],
        (f"no val split in the file: {count} of {len(train)} records carved out as val"),
    )


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of every non-blank line (the file has passed validation)."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                rows.append((number, json.loads(line)))
    return rows


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def _reject(arrival: Arrival, root: Path, problems: list[str]) -> Path:
    moved = _move_with_sidecar(arrival.path, root / "rejected")
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(listed)
    text = (
        f"{arrival.path.name} (dropped into {arrival.priority}/) was rejected: {len(problems)} problem(s).\n"
        "Fix them and drop the file again.\n\n"
        + "\n".join(listed)
        + (f"\n... and {more} more\n" if more else "\n")
    )
    moved.with_name(moved.name + ERROR_SUFFIX).write_text(text, encoding="utf-8")
    return moved


def _move_with_sidecar(path: Path, folder: Path, prefix: str = "") -> Path:
    """Move a file (and its sidecar) into `folder`, never over an existing file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{prefix}{path.name}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    number = 0
    while target.exists() or sidecar_of(target).exists():
        number += 1
        target = folder / f"{prefix}{path.stem}-{stamp}-{number}{path.suffix}"
    sidecar = sidecar_of(path)
    shutil.move(str(path), target)
    if sidecar.is_file():
        shutil.move(str(sidecar), sidecar_of(target))
    return target


def finish_file(job: Job, root: Path, ok: bool, error: str | None = None) -> Path:
    """Move a finished job's file to completed/ or failed/ (a failure gets its `.error.txt`)."""
    path = Path(job.file)
    if not path.is_file():
        return path
    moved = _move_with_sidecar(path, root / ("completed" if ok else "failed"))
    if not ok:
        moved.with_name(moved.name + ERROR_SUFFIX).write_text(
            f"{job.id} ({job.source}, specialist {job.specialist}) failed:\n{error or 'no reason given'}\n"
            f"Its checkpoints are kept under <run dir>/{job.specialist}/{job.id}/.\n",
            encoding="utf-8",
        )
    return moved


def remove_job(run_dir: Path, job_id: str, root: Path) -> tuple[Job, bool]:
    """Remove a job under the queue's lock: a waiting one's file moves to failed/ at once; a running one is
    only marked, and its supervisor stops it at the next step boundary. Returns the job and whether it was
    running; KeyError for an unknown job, ValueError for one already finished."""
    with locked_queue(run_dir) as queue:
        job = queue.get(job_id)
        if job.state not in ("queued", "running"):
            raise ValueError(f"{job.id} is already {job.state}; nothing to remove")
        running = job.state == "running"
        job.state = "removed"
        if not running:
            job.error = "removed by the user with `overnight queue remove`"
            job.file = str(finish_file(job, root, ok=False, error=job.error))
    return job, running
