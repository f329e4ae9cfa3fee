"""Watch mode: the supervisor takes inbox files in, runs their jobs one at a time, preempts and guards them.

A job runs as one more phase of its specialist (phase = job id) on the specialist's own trainer actor,
so heartbeats, faults, grading and the policies work on it as on any phase. Every intake, start,
preemption, resumption and promotion verdict is a decision in the log. Called with the supervisor's lock.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import structlog

from control.inbox import IntakeRules, arrivals, assess, carry_out, decision_key, finish_file, make_inbox
from control.job_queue import Job, JobQueue, JobResult, locked_queue, outranks, read_queue
from control.promotion import PROMOTED_FILE
from control.run_state import SpecialistState
from policies.decisions import Action, Trigger
from policies.regression import regression_verdict

if TYPE_CHECKING:
    from actors.supervisor import Supervisor

INBOX_SPECIALIST = "inbox"
"""The log's specialist column for a file that names no known specialist."""
log = structlog.get_logger(__name__)


class ContinuousTraining:
    """The inbox and the queue, worked by the supervisor's loop once its run is in watch mode."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        config = supervisor.config
        self.run_dir = supervisor.run_dir
        self.root = config.inbox.root(self.run_dir)
        self.rules = IntakeRules(
            specialists=tuple(config.specialists),
            epochs=config.inbox.epochs,
            val_fraction=config.inbox.val_fraction,
            seed=config.run.seed,
        )
        self.stopping: set[str] = set()

    def tick(self, plan_done: bool) -> None:
        """Take in what arrived; once the night's plan is done, start, preempt or stop jobs."""
        make_inbox(self.root)
        ready = arrivals(self.root, self.supervisor.config.inbox.settle_s)
        with locked_queue(self.run_dir) as queue:
            for arrival in ready:
                self._take_in(arrival, queue)
            if plan_done:
                self._schedule(queue)

    # --------------------------------------------------------------------------------------- intake

    def _take_in(self, arrival: Any, queue: JobQueue) -> None:
        intake = assess(arrival, self.run_dir, queue, self.rules)
        action = {
            "accepted": Action.QUEUE_JOB,
            "rejected": Action.REJECT_FILE,
            "skipped": Action.SKIP_DUPLICATE,
        }[intake.outcome]
        name = intake.specialist if intake.specialist in self.supervisor.state.specialists else None
        phase = intake.job.id if intake.job else arrival.priority
        decision_id = self.supervisor.log_fact(
            name or INBOX_SPECIALIST,
            phase,
            Trigger.inbox(f"{intake.source} in {arrival.priority}/ (sha256 {intake.sha256[:12]})"),
            action,
            f"{intake.source}: {intake.reason}",
            key=decision_key(intake),
        )
        moved = carry_out(intake, self.root, queue)
        self.supervisor.book.outcome(decision_id, True, f"moved to {moved}")
        log.info("inbox", file=intake.source, outcome=intake.outcome, reason=intake.reason)

    # ------------------------------------------------------------------------------------- schedule

    def _schedule(self, queue: JobQueue) -> None:
        running = next((job for job in queue.jobs if job.id in self._jobs_on_trainers()), None)
        waiting = queue.waiting()
        if running is not None:
            if running.state == "removed" and running.id not in self.stopping:
                self.stopping.add(running.id)
                self.supervisor.workers.send(
                    running.specialist, {"name": "stop", "reason": "removed by the user"}
                )
            elif running.preempting is None and waiting and outranks(waiting[0], running):
                self._preempt(running, waiting[0])
            return
        if waiting:
            self._start(waiting[0], queue)

    def _jobs_on_trainers(self) -> set[str]:
        return {spec.job for spec in self.supervisor.state.specialists.values() if spec.job}

    def _preempt(self, running: Job, urgent: Job) -> None:
        spec = self.supervisor.state.specialists[running.specialist]
        decision_id = self.supervisor.log_fact(
            running.specialist,
            running.id,
            Trigger.job(
                f"{urgent.id} ({urgent.priority}) waits while {running.id} ({running.priority}) runs",
                step=spec.step,
                epoch=spec.epoch,
            ),
            Action.PREEMPT_JOB,
            f"preempt {running.id} for {urgent.id}: checkpoint it at the next step boundary, put it back at "
            f"the front of {running.priority}, run {urgent.id}, then resume {running.id} from its checkpoint",
            key=_preempt_key(running, urgent.id),
        )
        running.preempting = urgent.id
        log.info("preempting", job=running.id, decision=decision_id, urgent=urgent.id)
        self.supervisor.workers.send(
            running.specialist, {"name": "stop", "reason": f"preempted by {urgent.id}"}
        )

    def _start(self, job: Job, queue: JobQueue) -> None:
        name = job.specialist
        spec = self.supervisor.state.specialists[name]
        if job.init_checkpoint is None:
            job.init_checkpoint, job.base_dir = self._promoted_checkpoint(name)
        if job.init_checkpoint is None:
            reason = (
                f"{name} has no promoted checkpoint (its night ended {spec.state}); a job continues the "
                "promoted checkpoint, so train the specialist first"
            )
            decision_id = self.supervisor.log_fact(
                name, job.id, Trigger.job(f"{job.id} cannot start"), Action.FAIL_JOB, reason,
                key=("fail", job.id, "no promoted checkpoint"),
            )  # fmt: skip
            self._end(job, "failed", reason)
            self.supervisor.book.outcome(decision_id, True, f"{job.source} moved to failed/")
            return
        resumed = job.preemptions > 0 or job.started_at is not None
        decision_id = self.supervisor.log_fact(
            name,
            job.id,
            Trigger.job(f"{job.id} ({job.priority}, {job.source}) is next in the queue"),
            Action.RESUME_JOB if resumed else Action.START_JOB,
            (
                f"resume {job.id} from its newest checkpoint (preempted {job.preemptions} time(s))"
                if resumed
                else f"train {name} for {job.epochs} epochs on {job.source}, continuing "
                f"{job.init_checkpoint}; {job.val_note}"
            ),
            key=("start", job.id, job.preemptions, job.started_at),
        )
        job.state = "running"
        job.started_at = job.started_at or time.time()
        if spec.job is None:
            spec.night_state = spec.night_state or spec.state
        spec.job, spec.state, spec.phase, spec.reason = job.id, "running", job.id, None
        spec.phase_index, spec.phases_total, spec.epochs_total = 0, 1, job.epochs
        spec.epoch = spec.step = 0
        spec.started_at, spec.finished_at = time.time(), None
        self.supervisor.launch_job(name, self.job_spec(job))
        self.supervisor.book.outcome(decision_id, True, f"trainer:{name} started on {job.id}")

    def _promoted_checkpoint(self, name: str) -> tuple[str | None, str | None]:
        """The checkpoint `name` serves and the base it was trained on (None, None when none)."""
        path = self.run_dir / PROMOTED_FILE
        if not path.is_file():
            return None, None
        promoted = json.loads(path.read_text(encoding="utf-8"))
        entry = promoted["specialists"].get(name)
        if not entry:
            return None, None
        return entry["checkpoint"], promoted.get("coordinator", {}).get("path")

    # ------------------------------------------------------------------------------------ job spec

    def spec_for(self, name: str) -> dict[str, Any] | None:
        """What the trainer of `name` is to run: its current job, or None for its night's phases.
        Reads the queue file without its lock (it is replaced atomically): callers may hold the lock."""
        spec = self.supervisor.state.specialists[name]
        if spec.job is None:
            return None
        return self.job_spec(read_queue(self.run_dir).get(spec.job))

    def job_spec(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.id,
            "specialist": job.specialist,
            "epochs": job.epochs,
            "corpus_dir": job.corpus_dir,
            "init_checkpoint": job.init_checkpoint,
            "base_dir": job.base_dir,
            "seed": self.supervisor.config.run.seed + int(job.id.rsplit("-", 1)[-1]),
        }

    def epochs_of(self, name: str, phase: str) -> int | None:
        spec = self.supervisor.state.specialists[name]
        return spec.epochs_total if spec.job == phase else None

    # ----------------------------------------------------------------------------------- endings

    def on_result(self, name: str, result: dict[str, Any]) -> None:
        """The trainer's train(job) returned: requeue a preempted job, guard a finished one, fail the rest."""
        spec = self.supervisor.state.specialists[name]
        with locked_queue(self.run_dir) as queue:
            job = queue.get(str(spec.job))
            status = result["phase"]["status"]
            if job.state == "removed":
                self._end(job, "removed", "removed by the user with `overnight queue remove`")
            elif status == "stopped" and job.preempting:
                self._requeue(job, queue, result)
            elif status == "completed":
                self._guard(job, result)
            else:
                reason = spec.reason or result["phase"]["reason"] or f"the job's phase ended {status}"
                self._fail(job, f"phase {status}: {reason}")
        self._restore(spec)

    def on_ended(self, name: str, state: str, reason: str) -> None:
        """The supervisor ended the job's trainer (crashes or stalls beyond the bounds, an abort)."""
        spec = self.supervisor.state.specialists[name]
        with locked_queue(self.run_dir) as queue:
            job = queue.get(str(spec.job))
            if job.state == "running":
                self._fail(job, f"{state}: {reason}")
        self.supervisor.workers.kill(name)
        self._restore(spec)

    def _requeue(self, job: Job, queue: JobQueue, result: dict[str, Any]) -> None:
        urgent = str(job.preempting)
        decision_id, _ = self.supervisor.book.known(job.specialist, _preempt_key(job, urgent))
        job.state, job.preempting = "queued", None
        job.preemptions += 1
        queue.to_front(job)
        checkpoint = result["phase"].get("final_checkpoint")
        self.supervisor.book.outcome(
            decision_id,
            True,
            f"{job.id} checkpointed at {checkpoint}, back at the front of {job.priority}; {urgent} next",
        )

    def _guard(self, job: Job, result: dict[str, Any]) -> None:
        baseline, exact = result["baseline_exact_match"], result["exact_match"]
        promote_it, why = regression_verdict(baseline, exact, self.supervisor.config.inbox.regression_margin)
        decision_id = self.supervisor.log_fact(
            job.specialist,
            job.id,
            Trigger.job(f"{job.id} finished {result['phase']['epochs_completed']} epochs"),
            Action.PROMOTE_JOB if promote_it else Action.KEEP_UNPROMOTED,
            f"{job.id} on {job.source}: {why}",
            key=("guard", job.id),
        )
        job.result = JobResult(
            checkpoint=result["checkpoint"],
            baseline_exact_match=baseline,
            exact_match=exact,
            promoted=promote_it,
            reason=why,
        )
        ok = True
        detail = f"{result['checkpoint']} kept, not served; the router keeps the promoted checkpoint"
        if promote_it and result["checkpoint"]:
            try:
                changed = self.supervisor.promote_job(
                    job.specialist, job.id, result["checkpoint"], exact, job.base_dir
                )
            except (OSError, ValueError, KeyError) as err:
                log.exception("promotion failed", job=job.id)
                job.result.promoted = False
                ok = False
                detail = f"promotion failed ({err.__class__.__name__}: {err}); nothing was promoted"
            else:
                detail = f"{result['checkpoint']} promoted" + ("; the router reloads it" if changed else "")
        self._end(job, "completed", None)
        self.supervisor.book.outcome(decision_id, ok, detail)

    def _fail(self, job: Job, reason: str) -> None:
        decision_id = self.supervisor.log_fact(
            job.specialist, job.id, Trigger.job(f"{job.id} ended without a result"), Action.FAIL_JOB,
            f"{job.id} on {job.source} failed ({reason}); its error and last checkpoint are kept",
            key=("fail", job.id, reason[:200]),
        )  # fmt: skip
        self._end(job, "failed", reason)
        self.supervisor.book.outcome(decision_id, True, f"{job.source} moved to failed/ with its .error.txt")

    def _end(self, job: Job, state: str, error: str | None) -> None:
        job.state = state  # type: ignore[assignment]
        job.error = error
        job.preempting = None
        job.finished_at = time.time()
        job.file = str(finish_file(job, self.root, ok=state == "completed", error=error))

    def _restore(self, spec: SpecialistState) -> None:
        spec.job = None
        spec.state = spec.night_state or "finished"
        spec.night_state = None
        spec.finished_at = time.time()
        spec.eta_s = 0.0
        self.supervisor.save()


def _preempt_key(running: Job, urgent: str) -> tuple[str, str, str, int]:
    """The event key of `running`'s current preemption (its decision id follows from it)."""
    return ("preempt", running.id, urgent, running.preemptions)
