"""The night's plan as transitions: start and re-attach, the tick (lost trainers, stalls, scheduling, the
plan's end), trainers that come up, crash or finish. Foundation first; then the specialists, in parallel
or one after another."""

from __future__ import annotations

from control import continuous
from control.effects import KillTrainer, Promote, RestartTrainer, StartTrainer, WriteReport
from control.events import ActorStarted, Start, Tick, TrainerDone
from control.heartbeat import stalled_for
from control.night import Turn
from control.run_state import TERMINAL_STATES
from policies.decisions import Action, Trigger
from settings.recipe import FOUNDATION

FINAL_STATES = {"completed": "finished", "skipped": "finished", "stopped": "stopped", "faulted": "aborted"}
"""A train() result's status -> the specialist's final status."""


def on_start(turn: Turn, event: Start) -> None:
    """Start the night, or continue it after a restart (trainers marked running are started again: a live
    one keeps training, a missing one resumes from its checkpoint). `watch` keeps it up for the inbox."""
    run = turn.night.run
    if event.watch and not run.watch:
        run.watch = True
        if run.status == "finished":
            # A finished night reopened with --watch: its plan is done, its inbox is now watched.
            run.status = "running"
            run.plan_done_at = run.finished_at or event.now
            run.finished_at = None
        turn.save()
    if not event.attach or run.status != "running":
        return
    for name, spec in run.specialists.items():
        if spec.state in ("running", "paused"):
            if name not in event.alive:
                # A new cluster (the driver was rerun): its new process is no crash.
                turn.night.expected_restarts.add(name)
            turn.launched(name)
            turn.emit(StartTrainer(name, continuous.job_spec_of(turn, name, event.queue)))


def on_tick(turn: Turn, event: Tick) -> None:
    """The loop's beat: lost trainers, ended ones retired, crashed ones started again, stalls, scheduling,
    the plan's end, and the queue's work."""
    night, run = turn.night, turn.night.run
    if event.queue is not None:
        night.queue = event.queue
    for name, error in event.lost:
        crashed(turn, name, f"trainer actor lost: {error}", restartable=False)
    for name, spec in run.specialists.items():
        # A trainer whose specialist has ended gives its CPUs or GPU back to the ones still training.
        if spec.state in TERMINAL_STATES and name not in night.retired:
            night.retired.add(name)
            turn.emit(KillTrainer(name))
    for name in sorted(night.restarts_due):
        night.restarts_due.discard(name)
        if run.specialists[name].state == "running":
            turn.emit(StartTrainer(name, continuous.job_spec_of(turn, name, night.queue)))
    check_heartbeats(turn)
    schedule(turn)
    if event.queue is not None:
        continuous.settle(turn)
    plan_over = run.plan_done_at is not None or (not run.unfinished() and not night.pending_grades)
    if plan_over and run.status == "running":
        if not run.watch:
            finish(turn)
        elif run.plan_done_at is None:
            plan_done(turn)
    if event.queue is not None and run.watch and run.plan_done_at is not None:
        continuous.schedule(turn, event.queue, event.promoted)


def schedule(turn: Turn) -> None:
    """Launch what may run now: the foundation before anything; the specialists after it finished."""
    specs = turn.night.run.specialists
    foundation = specs.get(FOUNDATION)
    if foundation is not None and foundation.state not in TERMINAL_STATES:
        if foundation.state == "pending":
            launch(turn, FOUNDATION)
        return
    if foundation is not None and foundation.state != "finished":
        for name, spec in specs.items():
            if spec.state == "pending":
                turn.end(name, "aborted", f"the foundation ended {foundation.state}")
        return
    running = [n for n, s in specs.items() if s.state in ("running", "paused")]
    for name, spec in specs.items():
        if spec.state != "pending":
            continue
        if running and not turn.night.config.supervisor.parallel_specialists:
            return
        launch(turn, name)
        running.append(name)


def launch(turn: Turn, name: str) -> None:
    turn.move(name, "running")
    turn.launched(name)
    turn.save()
    turn.note("starting trainer", specialist=name)
    turn.emit(StartTrainer(name))


def check_heartbeats(turn: Turn) -> None:
    """A running trainer silent beyond the stall rule: the policies restart or abort it."""
    limits = turn.night.config.policies.stall_seconds, turn.night.config.supervisor.startup_grace_s
    for name, spec in turn.night.run.specialists.items():
        if spec.state != "running":
            continue
        silence = stalled_for(spec.last_heartbeat, spec.launched_at, turn.now, *limits)
        if silence is None:
            continue
        trigger = Trigger.stall(seconds_since_heartbeat=silence, step=spec.step, epoch=spec.epoch)
        key = ("stall", spec.phase, spec.step, spec.last_heartbeat or spec.launched_at)
        decision_id, decision, _ = turn.decide(name, trigger, key=key)
        if decision.action == Action.RESTART_TRAINER:
            turn.night.expected_restarts.add(name)
            turn.launched(name)
            turn.emit(RestartTrainer(name))
            turn.outcome(
                decision_id,
                True,
                "trainer process killed; Ray restarts it and it resumes from its newest valid checkpoint",
            )
        elif decision.action == Action.ABORT_SPECIALIST:
            turn.emit(KillTrainer(name))
            turn.end(name, "aborted", decision.reason)
            turn.outcome(decision_id, True, "trainer killed; specialist aborted")
        turn.night.trackers[name].on_rollback()


def crashed(turn: Turn, name: str, error: str, restartable: bool) -> None:
    """train() raised (restartable) or the trainer's actor is gone for good: restart within the bounds."""
    spec = turn.spec(name)
    if spec.state in TERMINAL_STATES:
        return
    trigger = Trigger.crash(detail=error[:500], step=spec.step, epoch=spec.epoch)
    key = ("crash", spec.phase, spec.step, error[:200], spec.crash_restarts)
    decision_id, decision, _ = turn.decide(name, trigger, key=key)
    if decision.action == Action.RESTART_TRAINER and restartable:
        spec.crash_restarts += 1
        turn.launched(name)
        # The crashed train() is still in flight (waiting on trainer_done): start it on the next tick.
        turn.night.restarts_due.add(name)
        turn.outcome(
            decision_id,
            True,
            f"train() called again (restart {spec.crash_restarts}); it resumes "
            "from the newest valid checkpoint",
        )
        return
    turn.emit(KillTrainer(name))
    ended = "aborted" if decision.action == Action.ABORT_SPECIALIST else "failed"
    turn.end(name, ended, decision.reason if restartable else error)
    turn.outcome(decision_id, True, "specialist stopped; the rest of the run goes on")


def on_actor_started(turn: Turn, event: ActorStarted) -> None:
    """A new trainer process nobody asked for is a crash that Ray restarted: the policies judge it."""
    name, spec = event.specialist, turn.spec(event.specialist)
    spec.last_heartbeat = event.now
    previous, spec.trainer_pid = spec.trainer_pid, event.pid
    expected = name in turn.night.expected_restarts
    turn.night.expected_restarts.discard(name)
    if previous is None or previous == event.pid or expected or spec.state in TERMINAL_STATES:
        turn.save()
        return
    detail = f"trainer process {previous} died; Ray restarted it as process {event.pid}"
    trigger = Trigger.crash(detail=detail, step=spec.step, epoch=spec.epoch)
    decision_id, decision, _ = turn.decide(name, trigger, key=("restarted", previous, event.pid))
    if decision.action == Action.RESTART_TRAINER:
        spec.crash_restarts += 1
        turn.outcome(
            decision_id,
            True,
            "Ray restarted the actor; train() is retried and resumes from the newest valid checkpoint",
        )
    else:
        turn.emit(KillTrainer(name))
        turn.end(name, "aborted", decision.reason)
        turn.outcome(decision_id, True, "trainer killed for good; the rest of the run goes on")
    turn.save()


def on_trainer_done(turn: Turn, event: TrainerDone) -> None:
    """A train() call ended: finished, stopped, or raised (a crash the policies may restart)."""
    name, spec = event.specialist, turn.spec(event.specialist)
    if spec.state in TERMINAL_STATES and spec.state != "aborted":
        return  # a retried report of an ending already recorded
    if not event.ok:
        crashed(turn, name, event.error, restartable=True)
        return
    result = event.result or {}
    if event.job is not None:
        if event.job == spec.job:
            continuous.trainer_returned(turn, name, result)
        return
    if result.get("best_checkpoint") and name != FOUNDATION:
        turn.emit(Promote(name, result))
    final = "aborted" if spec.state == "aborted" else FINAL_STATES[str(result["status"])]
    turn.end(name, final, spec.reason or f"training {result['status']}")  # type: ignore[arg-type]


def plan_done(turn: Turn) -> None:
    """Watch mode: the night's plan is over; its report is written and the inbox stays watched."""
    turn.emit(WriteReport())
    turn.night.run.plan_done_at = turn.now
    turn.save()
    turn.note("plan finished; watching the inbox")


def finish(turn: Turn) -> None:
    run = turn.night.run
    run.status, run.finished_at = "finished", turn.now
    turn.save()
    turn.emit(WriteReport())
    turn.note("run finished", run=run.run, states={n: s.state for n, s in run.specialists.items()})
