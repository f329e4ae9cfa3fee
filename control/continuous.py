"""Watch mode as transitions: inbox files taken in, jobs started, preempted, requeued, guarded or failed.

A job runs as one more phase of its specialist (phase = job id) on the specialist's own trainer, so
heartbeats, faults, grading and the policies work on it as on any phase. Every intake, start, preemption,
resumption and promotion verdict is a decision in the log. The queue is the tick's, read under its lock.
"""

from __future__ import annotations

from typing import Any

from control.commands import TrainerCommand
from control.effects import FinishJobFile, PromoteJob, Send, StartTrainer, TakeIn
from control.events import Carried, InboxArrived
from control.inbox import decision_key
from control.job_queue import Job, JobQueue, JobResult, outranks
from control.night import JobEnding, Turn
from policies.decisions import Action, Trigger
from policies.regression import regression_verdict

INBOX_SPECIALIST = "inbox"
"""The log's specialist column for a file that names no known specialist."""
INTAKE_ACTIONS = {
    "accepted": Action.QUEUE_JOB,
    "rejected": Action.REJECT_FILE,
    "skipped": Action.SKIP_DUPLICATE,
}


def on_arrival(turn: Turn, event: InboxArrived) -> None:
    """A settled, assessed inbox file: its verdict is a decision, then the file moves (TakeIn)."""
    turn.night.queue = event.queue
    intake = event.intake
    known = intake.specialist in turn.night.run.specialists
    phase = intake.job.id if intake.job else intake.arrival.priority
    trigger = Trigger.inbox(f"{intake.source} in {intake.arrival.priority}/ (sha256 {intake.sha256[:12]})")
    decision_id, _ = turn.fact(
        str(intake.specialist) if known else INBOX_SPECIALIST,
        phase,
        trigger,
        INTAKE_ACTIONS[intake.outcome],
        f"{intake.source}: {intake.reason}",
        key=decision_key(intake),
    )
    turn.emit(TakeIn(decision_id, intake))
    turn.note("inbox", file=intake.source, outcome=intake.outcome, reason=intake.reason)


def on_carried(turn: Turn, event: Carried) -> None:
    """An effect's result came back: its decision's outcome (a failed job promotion leaves it unpromoted)."""
    queue = turn.night.queue
    if event.job is not None and not event.ok and queue is not None:
        result = queue.get(event.job).result
        if result is not None:
            result.promoted = False
    turn.outcome(event.decision_id, event.ok, event.detail)


# ------------------------------------------------------------------------------------------- schedule


def schedule(turn: Turn, queue: JobQueue, promoted: dict[str, Any] | None) -> None:
    """Once the plan is done: stop a removed job, preempt for a high one, or start the next (continuing the
    checkpoint `promoted` (promoted.json's contents) serves)."""
    on_trainers = {spec.job for spec in turn.night.run.specialists.values() if spec.job}
    running = next((job for job in queue.jobs if job.id in on_trainers), None)
    waiting = queue.waiting()
    if running is not None:
        if running.state == "removed" and running.id not in turn.night.stopping_jobs:
            turn.night.stopping_jobs.add(running.id)
            turn.emit(Send(running.specialist, TrainerCommand(name="stop", reason="removed by the user")))
        elif running.preempting is None and waiting and outranks(waiting[0], running):
            preempt(turn, running, waiting[0])
        return
    if waiting:
        start(turn, waiting[0], promoted)


def preempt(turn: Turn, running: Job, urgent: Job) -> None:
    spec = turn.spec(running.specialist)
    detail = f"{urgent.id} ({urgent.priority}) waits while {running.id} ({running.priority}) runs"
    reason = (
        f"preempt {running.id} for {urgent.id}: checkpoint it at the next step boundary, put it back at "
        f"the front of {running.priority}, run {urgent.id}, then resume {running.id} from its checkpoint"
    )
    turn.fact(
        running.specialist,
        running.id,
        Trigger.job(detail, step=spec.step, epoch=spec.epoch),
        Action.PREEMPT_JOB,
        reason,
        key=_preempt_key(running, urgent.id),
    )
    running.preempting = urgent.id
    turn.note("preempting", job=running.id, urgent=urgent.id)
    turn.emit(Send(running.specialist, TrainerCommand(name="stop", reason=f"preempted by {urgent.id}")))


def start(turn: Turn, job: Job, promoted: dict[str, Any] | None) -> None:
    """Start (or resume) `job` on its specialist's trainer, continuing the checkpoint it serves."""
    name, spec = job.specialist, turn.spec(job.specialist)
    if job.init_checkpoint is None:
        job.init_checkpoint, job.base_dir = promoted_checkpoint(promoted, name)
    if job.init_checkpoint is None:
        reason = (
            f"{name} has no promoted checkpoint (its night ended {spec.state}); a job continues the "
            "promoted checkpoint, so train the specialist first"
        )
        decision_id, _ = turn.fact(
            name,
            job.id,
            Trigger.job(f"{job.id} cannot start"),
            Action.FAIL_JOB,
            reason,
            key=("fail", job.id, "no promoted checkpoint"),
        )
        end_job(turn, job, "failed", reason)
        turn.outcome(decision_id, True, f"{job.source} moved to failed/")
        return
    resumed = job.preemptions > 0 or job.started_at is not None
    reason = (
        f"resume {job.id} from its newest checkpoint (preempted {job.preemptions} time(s))"
        if resumed
        else f"train {name} for {job.epochs} epochs on {job.source}, continuing {job.init_checkpoint}; "
        f"{job.val_note}"
    )
    decision_id, _ = turn.fact(
        name,
        job.id,
        Trigger.job(f"{job.id} ({job.priority}, {job.source}) is next in the queue"),
        Action.RESUME_JOB if resumed else Action.START_JOB,
        reason,
        key=("start", job.id, job.preemptions, job.started_at),
    )
    job.state, job.started_at = "running", job.started_at or turn.now
    if spec.job is None:
        spec.night_state = spec.night_state or spec.state
    turn.move(name, "running")
    spec.job, spec.phase, spec.reason = job.id, job.id, None
    spec.phase_index, spec.phases_total, spec.epochs_total = 0, 1, job.epochs
    spec.epoch = spec.step = 0
    spec.started_at, spec.finished_at = turn.now, None
    # Its night's trainer was retired: the process that reports next is a new one, not a crash.
    turn.night.retired.discard(name)
    spec.trainer_pid = None
    turn.launched(name)
    turn.save()
    turn.note("starting job", specialist=name, job=job.id)
    turn.emit(StartTrainer(name, job_spec(job, turn.night.config.run.seed)))
    turn.outcome(decision_id, True, f"trainer:{name} started on {job.id}")


def promoted_checkpoint(promoted: dict[str, Any] | None, name: str) -> tuple[str | None, str | None]:
    """The checkpoint `name` serves and the base it was trained on (None, None when none), from
    promoted.json's contents."""
    entry = (promoted or {}).get("specialists", {}).get(name)
    if not entry:
        return None, None
    return entry["checkpoint"], (promoted or {}).get("coordinator", {}).get("path")


def job_spec(job: Job, seed: int) -> dict[str, Any]:
    """What the trainer runs for `job` (training.job.JobSpec's fields)."""
    return {
        "id": job.id,
        "specialist": job.specialist,
        "epochs": job.epochs,
        "corpus_dir": job.corpus_dir,
        "init_checkpoint": job.init_checkpoint,
        "base_dir": job.base_dir,
        "seed": seed + int(job.id.rsplit("-", 1)[-1]),
    }


def job_spec_of(turn: Turn, name: str, queue: JobQueue | None) -> dict[str, Any] | None:
    """What the trainer of `name` is to run: its current job, or None for its night's phases."""
    job = turn.spec(name).job
    if job is None or queue is None:
        return None
    return job_spec(queue.get(job), turn.night.config.run.seed)


# -------------------------------------------------------------------------------------------- endings


def trainer_returned(turn: Turn, name: str, result: dict[str, Any]) -> None:
    """train(job) returned: the specialist goes back to its night; the job is settled at the next tick."""
    spec = turn.spec(name)
    turn.night.job_endings.append(JobEnding(job=str(spec.job), result=result, reason=spec.reason or ""))
    turn.restore_night(name)


def settle(turn: Turn) -> None:
    """Settle the jobs whose trainer ended: requeue a preempted one, guard a finished one, fail the rest."""
    queue = turn.night.queue
    assert queue is not None, "settle() runs on a tick that read the queue"
    endings, turn.night.job_endings = turn.night.job_endings, []
    for ending in endings:
        job = queue.get(ending.job)
        if ending.result is None:
            if job.state == "running":
                fail(turn, job, f"{ending.state}: {ending.reason}")
            continue
        phase = ending.result["phase"]
        status = phase["status"]
        if job.state == "removed":
            end_job(turn, job, "removed", "removed by the user with `overnight queue remove`")
        elif status == "stopped" and job.preempting:
            requeue(turn, job, queue, phase.get("final_checkpoint"))
        elif status == "completed":
            guard(turn, job, ending.result)
        else:
            fail(
                turn,
                job,
                f"phase {status}: {ending.reason or phase['reason'] or f'the phase ended {status}'}",
            )


def requeue(turn: Turn, job: Job, queue: JobQueue, checkpoint: str | None) -> None:
    urgent = str(job.preempting)
    decision_id, _ = turn.night.book.known(job.specialist, _preempt_key(job, urgent))
    job.state, job.preempting = "queued", None
    job.preemptions += 1
    queue.to_front(job)
    turn.outcome(
        decision_id,
        True,
        f"{job.id} checkpointed at {checkpoint}, back at the front of {job.priority}; {urgent} next",
    )


def guard(turn: Turn, job: Job, result: dict[str, Any]) -> None:
    """The regression guard: promote a finished job's checkpoint unless it serves worse than the promoted."""
    baseline, exact = result["baseline_exact_match"], result["exact_match"]
    promote_it, why = regression_verdict(baseline, exact, turn.night.config.inbox.regression_margin)
    decision_id, _ = turn.fact(
        job.specialist,
        job.id,
        Trigger.job(f"{job.id} finished {result['phase']['epochs_completed']} epochs"),
        Action.PROMOTE_JOB if promote_it else Action.KEEP_UNPROMOTED,
        f"{job.id} on {job.source}: {why}",
        key=("guard", job.id),
    )
    checkpoint = result["checkpoint"]
    job.result = JobResult(
        checkpoint=checkpoint,
        baseline_exact_match=baseline,
        exact_match=exact,
        promoted=promote_it,
        reason=why,
    )
    if promote_it and checkpoint:
        # Its outcome comes back as Carried once the executor has promoted it (or failed to).
        turn.emit(PromoteJob(decision_id, job.id, job.specialist, checkpoint, exact, job.base_dir))
        end_job(turn, job, "completed", None)
        return
    end_job(turn, job, "completed", None)
    turn.outcome(
        decision_id, True, f"{checkpoint} kept, not served; the router keeps the promoted checkpoint"
    )


def fail(turn: Turn, job: Job, reason: str) -> None:
    decision_id, _ = turn.fact(
        job.specialist,
        job.id,
        Trigger.job(f"{job.id} ended without a result"),
        Action.FAIL_JOB,
        f"{job.id} on {job.source} failed ({reason}); its error and last checkpoint are kept",
        key=("fail", job.id, reason[:200]),
    )
    end_job(turn, job, "failed", reason)
    turn.outcome(decision_id, True, f"{job.source} moved to failed/ with its .error.txt")


def end_job(turn: Turn, job: Job, state: str, error: str | None) -> None:
    job.state = state  # type: ignore[assignment]
    job.error, job.preempting, job.finished_at = error, None, turn.now
    turn.emit(FinishJobFile(job.id, ok=state == "completed", error=error))


def _preempt_key(running: Job, urgent: str) -> tuple[str, str, str, int]:
    """The event key of `running`'s current preemption (its decision id follows from it)."""
    return ("preempt", running.id, urgent, running.preemptions)
