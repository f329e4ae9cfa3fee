"""Continuous training as pure transitions: intake, start, preemption and requeue, the regression guard, a
job that cannot start, a removed job, and a job its supervisor ended. The queue is the tick's own object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from control.effects import FinishJobFile, PromoteJob, Send, StartTrainer, TakeIn, WriteDecision, WriteOutcome
from control.events import Carried, InboxArrived, Tick, TrainerDone
from control.inbox import Arrival, Intake
from control.job_queue import Job, JobQueue
from control.night import Night
from tests.control.machine_fixtures import NOW, feed, night, of

PROMOTED = {
    "specialists": {"ascii": {"checkpoint": "/run/ascii/main/ckpt"}},
    "coordinator": {"path": "/base"},
}


def job(number: int, priority: str = "normal", specialist: str = "ascii") -> Job:
    job_id = f"job-{number:04d}"
    return Job(
        id=job_id, specialist=specialist, priority=priority, epochs=2, source=f"{job_id}.jsonl",  # type: ignore[arg-type]
        file=f"/inbox/processing/{job_id}--x.jsonl", sha256=f"sha{number}", corpus_dir=f"/jobs/{job_id}",
    )  # fmt: skip


def watching(changes: dict[str, Any] | None = None) -> tuple[Night, JobQueue]:
    """A night whose plan is done, watching its inbox, with an empty queue."""
    state = night(changes)
    for spec in state.run.specialists.values():
        spec.state, spec.started_at = "finished", NOW - 100
    state.run.watch, state.run.plan_done_at = True, NOW - 1
    state.retired = set(state.run.specialists)
    return state, JobQueue()


def tick(
    state: Night, queue: JobQueue, now: float = NOW, promoted: dict[str, Any] | None = None
) -> list[Any]:
    return feed(state, Tick(now, queue=queue, promoted=PROMOTED if promoted is None else promoted))


def done(job_id: str, status: str, now: float, **result: Any) -> TrainerDone:
    phase = {"status": status, "reason": status, "final_checkpoint": "/jobs/ckpt", "epochs_completed": 2}
    return TrainerDone(now, "ascii", ok=True, result={"phase": phase, **result}, job=job_id)


def actions(effects: list[Any]) -> list[str]:
    return [e.record.action.value for e in of(effects, WriteDecision)]


def test_an_accepted_file_is_a_decision_then_moved_and_its_outcome_comes_back() -> None:
    state, queue = watching()
    arrival = Arrival(Path("/inbox/normal/a.jsonl"), "normal", "1:2:3")
    intake = Intake("accepted", arrival, "sha1", "12 train / 2 val examples", "ascii", job(1))
    effects = feed(state, InboxArrived(NOW, intake, queue))
    assert actions(effects) == ["queue_job"] and of(effects, TakeIn)[0].intake is intake
    decision_id = of(effects, TakeIn)[0].decision_id
    [outcome] = of(feed(state, Carried(NOW, decision_id, True, "moved to /inbox/processing/x")), WriteOutcome)
    assert outcome.detail == "moved to /inbox/processing/x"


def test_a_job_starts_on_the_promoted_checkpoint_and_the_specialist_returns_to_its_night() -> None:
    state, queue = watching()
    queue.add(job(1))
    effects = tick(state, queue)
    assert actions(effects) == ["start_job"]
    [start] = of(effects, StartTrainer)
    assert start.job is not None and (start.job["init_checkpoint"], start.job["base_dir"]) == (
        "/run/ascii/main/ckpt",
        "/base",
    )
    spec = state.run.specialists["ascii"]
    assert (spec.state, spec.job, spec.phase, spec.night_state) == (
        "running",
        "job-0001",
        "job-0001",
        "finished",
    )
    assert "ascii" not in state.retired
    feed(
        state,
        done(
            "job-0001",
            "completed",
            NOW + 1,
            checkpoint="/jobs/best",
            baseline_exact_match=0.5,
            exact_match=0.5,
        ),
    )
    assert (spec.state, spec.job) == ("finished", None)
    effects = tick(state, queue, NOW + 2)
    assert actions(effects) == ["promote_job"] and of(effects, PromoteJob)[0].checkpoint == "/jobs/best"
    assert of(effects, FinishJobFile) == [FinishJobFile("job-0001", ok=True, error=None)]
    # The executor's promotion failed: the job stays unpromoted and the outcome says so.
    promote = of(effects, PromoteJob)[0]
    feed(
        state,
        Carried(NOW + 3, promote.decision_id, False, "promotion failed (OSError: disk)", job="job-0001"),
    )
    result = queue.get("job-0001").result
    assert result is not None and result.promoted is False


def test_a_high_job_preempts_a_normal_one_which_resumes_after_it() -> None:
    state, queue = watching()
    queue.add(job(1))
    tick(state, queue)
    queue.add(job(2, "high"))
    effects = tick(state, queue, NOW + 1)
    assert actions(effects) == ["preempt_job"]
    assert [(e.specialist, e.command.name, e.command.reason) for e in of(effects, Send)] == [
        ("ascii", "stop", "preempted by job-0002")
    ]
    assert not of(tick(state, queue, NOW + 2), Send), "one preemption at a time"
    feed(state, done("job-0001", "stopped", NOW + 3))
    effects = tick(state, queue, NOW + 4)
    first = queue.get("job-0001")
    assert (first.state, first.preemptions, first.preempting) == ("queued", 1, None)
    assert "back at the front of normal" in of(effects, WriteOutcome)[0].detail
    assert actions(effects) == ["start_job"] and of(effects, StartTrainer)[0].job["id"] == "job-0002"  # type: ignore[index]
    feed(
        state,
        done(
            "job-0002", "completed", NOW + 5, checkpoint="/jobs/b", baseline_exact_match=0.9, exact_match=0.1
        ),
    )
    effects = tick(state, queue, NOW + 6)
    assert actions(effects) == ["keep_unpromoted", "resume_job"]


def test_a_job_whose_specialist_serves_nothing_fails_at_once() -> None:
    state, queue = watching()
    queue.add(job(1, specialist="runic"))
    effects = tick(state, queue)
    assert actions(effects) == ["fail_job"] and not of(effects, StartTrainer)
    [moved] = of(effects, FinishJobFile)
    assert moved.ok is False and "has no promoted checkpoint" in str(moved.error)


def test_a_removed_job_is_told_to_stop_once() -> None:
    state, queue = watching()
    queue.add(job(1))
    tick(state, queue)
    queue.get("job-0001").state = "removed"
    sends = of(tick(state, queue, NOW + 1) + tick(state, queue, NOW + 2), Send)
    assert [(e.command.name, e.command.reason) for e in sends] == [("stop", "removed by the user")]
    feed(state, done("job-0001", "stopped", NOW + 3))
    tick(state, queue, NOW + 4)
    assert queue.get("job-0001").error == "removed by the user with `overnight queue remove`"


def test_a_job_the_supervisor_ended_fails_and_its_specialist_keeps_its_night() -> None:
    state, queue = watching({"policies": {"max_crash_restarts": 0}})
    queue.add(job(1))
    tick(state, queue)
    effects = feed(state, TrainerDone(NOW + 1, "ascii", ok=False, error="boom", job="job-0001"))
    assert actions(effects) == ["abort_specialist"]
    assert state.run.specialists["ascii"].state == "finished", "a job's ending is the job's"
    effects = tick(state, queue, NOW + 2)
    assert actions(effects) == ["fail_job"] and queue.get("job-0001").state == "failed"
