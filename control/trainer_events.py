"""A trainer's events as transitions: steps, evaluations, skips, checkpoints, rollbacks, phases; hard
faults decided within their step; the watchdog's grades decided and applied while their phase runs."""

from __future__ import annotations

from agents.metrics import MetricWindow
from control.commands import TrainerCommand, changes_text, fault_action_for, parameter_commands
from control.decision_book import NOT_APPLIED
from control.effects import AppendEvent, CountGrade, GradeWindow, PromotePhaseBest, Reply
from control.events import FaultReported, Graded, GradeFailed, Reported
from control.grading import grade_line, with_evidence
from control.night import Turn
from control.run_state import TERMINAL_STATES, LastGrade
from control.steering import apply, epochs_of, grading_due, last_evaluation, position
from control.telemetry import event_line
from control.tracker import params_of
from policies.decisions import Action, Trigger
from settings.recipe import FOUNDATION
from training.events import (
    CheckpointFailed,
    CheckpointSaved,
    EpochEval,
    Fault,
    Heartbeat,
    PhaseEnded,
    PhaseStarted,
    RolledBack,
    StepMetrics,
    StepSkipped,
)
from training.hooks import FaultAction


def on_reported(turn: Turn, report: Reported) -> None:
    """Any event is a heartbeat; each kind updates the specialist's state, and an evaluation that is due
    (or a phase's end) sends the window to the watchdog."""
    name, event, spec = report.specialist, report.event, turn.spec(report.specialist)
    tracker = turn.night.trackers[name]
    spec.last_heartbeat = turn.now
    spec.epoch, spec.step = event.epoch, event.step
    window = None
    if isinstance(event, PhaseStarted):
        phase_started(turn, name, event)
    elif isinstance(event, StepMetrics):
        stepped(turn, name, event)
    elif isinstance(event, EpochEval):
        tracker.on_epoch(event)
        per_task = {
            task: {"exact_match": score.exact_match, "format_validity": score.format_validity}
            for task, score in event.per_task.items()
        }
        fields = ("val_loss", "exact_match", "format_validity", "n_graded")
        extra = {"per_task": per_task, **({"start": True} if event.start else {})}
        turn.emit(AppendEvent(name, event_line("epoch", event, *fields, **extra)))
        # The start is the trajectory's reference, never a window to grade by itself.
        if not event.start and grading_due(turn.night, name, event.phase, event.epoch):
            window = tracker.take_window()
    elif isinstance(event, StepSkipped):
        skipped(turn, name, event)
    elif isinstance(event, CheckpointSaved):
        tracker.on_checkpoint(event)
    elif isinstance(event, RolledBack):
        tracker.on_rollback()
        spec.phase_rollbacks += 1
        line = event_line("rollback", event, "checkpoint", skipped_checkpoints=event.skipped_checkpoints)
        turn.emit(AppendEvent(name, line))
    elif isinstance(event, CheckpointFailed):
        checkpoint_failed(turn, name, event)
    elif isinstance(event, PhaseEnded):
        phase_ended(turn, name, event)
        window = tracker.take_window()
    if window is not None:
        ask_grade(turn, name, window, isinstance(event, PhaseEnded))
    turn.save(throttle=isinstance(event, StepMetrics | Heartbeat))


def phase_started(turn: Turn, name: str, event: PhaseStarted) -> None:
    """A phase began (fresh or resumed): its parameters are the trainer's word, not the config's guess."""
    spec, tracker = turn.spec(name), turn.night.trackers[name]
    if event.phase != spec.phase:
        spec.phase_rollbacks = 0
    tracker.start_phase(event.phase, turn.now)
    tracker.params = params_of(event)
    spec.phase, spec.peak_lr = event.phase, event.peak_lr
    spec.micro_batch, spec.grad_accum = event.micro_batch, event.grad_accum
    planned = epochs_of(turn.night, name, event.phase)
    if event.resumed_from and planned != epochs_of(turn.night, name, event.phase, configured=True):
        # A restarted trainer reads its epochs from the config: a stop-early or extension still holds.
        turn.send(name, TrainerCommand(name="set_epochs", epochs=planned, reason="resumed phase"))
    phases = phase_names(turn, name)
    spec.phase_index = phases.index(event.phase) if event.phase in phases else 0
    spec.epochs_total = planned
    line = event_line("phase", event, status="started", resumed_from=event.resumed_from)
    turn.emit(AppendEvent(name, line))
    for corrupt in event.skipped_checkpoints:
        turn.note("corrupt checkpoint skipped", warning=True, specialist=name, detail=corrupt)


def phase_names(turn: Turn, name: str) -> list[str]:
    spec = turn.spec(name)
    if spec.job is not None:
        return [spec.job]
    if name == FOUNDATION:
        return ["general"]
    return [phase.name for phase in turn.night.config.specialists[name].phases]


def stepped(turn: Turn, name: str, event: StepMetrics) -> None:
    """A step: the ETA, the event line, and the divergence rule on smoothed losses."""
    spec, tracker = turn.spec(name), turn.night.trackers[name]
    tracker.on_step(event)
    spec.loss, spec.lr, spec.peak_lr = event.loss, event.lr, event.peak_lr
    spec.micro_batch, spec.grad_accum = event.micro_batch, event.grad_accum
    elapsed = turn.now - (spec.started_at or turn.now)
    phases_left = spec.phases_total - spec.phase_index - event.progress
    done_fraction = (spec.phase_index + event.progress) / max(1, spec.phases_total)
    spec.eta_s = elapsed / done_fraction * phases_left / max(1, spec.phases_total) if done_fraction else None
    fields = ("loss", "lr", "micro_batch", "grad_accum", "tokens_per_s")
    turn.emit(AppendEvent(name, event_line("step", event, *fields)))
    limits = turn.night.config
    diverged = tracker.diverged(limits.policies.divergence_k, limits.supervisor.divergence_min_steps)
    if diverged is None:
        return
    loss, best = diverged
    trigger = Trigger.divergence(loss=loss, best_loss=best, step=event.step, epoch=event.epoch)
    decision_id, decision, _ = turn.decide(name, trigger, key=("divergence", event.phase, event.time))
    tracker.on_rollback()
    apply(turn, name, decision_id, decision)


def skipped(turn: Turn, name: str, event: StepSkipped) -> None:
    """A step the spike guard skipped; enough of them within the policy window make a decision."""
    fields = ("reason", "value", "median", "robust_z", "skipped_in_phase")
    turn.emit(AppendEvent(name, event_line("skip", event, *fields)))
    limits, tracker = turn.night.config.policies, turn.night.trackers[name]
    skips = tracker.on_skip(event.step, limits.spike_window_steps)
    if skips < limits.spike_skips:
        return
    detail = f"last: {event.reason} {event.value:.4g}, robust z {event.robust_z:.1f}"
    trigger = Trigger.spikes(skips, detail, step=event.step, epoch=event.epoch)
    decision_id, decision, _ = turn.decide(name, trigger, key=("spikes", event.phase, event.step, event.time))
    tracker.skipped_steps.clear()  # the same skips never make a second decision
    if decision.action == Action.ROLLBACK:
        tracker.on_rollback()
    apply(turn, name, decision_id, decision)


def checkpoint_failed(turn: Turn, name: str, event: CheckpointFailed) -> None:
    trigger = Trigger.checkpoint_failed(detail=event.message, step=event.step, epoch=event.epoch)
    key = ("checkpoint_failed", event.phase, event.step, event.time)
    decision_id, _, _ = turn.decide(name, trigger, key=key)
    kept = event.previous_checkpoint or "none yet"
    turn.outcome(decision_id, True, f"training goes on; the previous checkpoint stays intact: {kept}")


def phase_ended(turn: Turn, name: str, event: PhaseEnded) -> None:
    """A phase ended: it is done (completed or skipped) and its best checkpoint is promoted; a job's is
    promoted by its regression guard instead."""
    spec = turn.spec(name)
    if event.status in ("completed", "skipped") and event.phase not in spec.finished_phases:
        spec.finished_phases.append(event.phase)
    ended = "finished" if event.status == "completed" else event.status
    turn.emit(AppendEvent(name, event_line("phase", event, status=ended, reason=event.reason)))
    if spec.job != event.phase and name != FOUNDATION:
        turn.emit(PromotePhaseBest(name, event.phase))


def ask_grade(turn: Turn, name: str, window: MetricWindow, phase_ended: bool) -> None:
    """Send a window to the watchdog with its evidence and the actions the policies could still take."""
    last = window.epochs[-1].epoch
    ends = phase_ended or last_evaluation(turn.night, name, window.phase, last)
    window = with_evidence(window, turn.history(name), turn.night.config.policies, ends)
    turn.night.pending_grades += 1
    turn.emit(GradeWindow(name, window, phase_ended, turn.spec(name).phase_rollbacks))


def on_graded(turn: Turn, graded: Graded) -> None:
    """The watchdog's grade: decided, and applied while the phase it graded still runs."""
    name, grade, window = graded.specialist, graded.grade, graded.window
    spec, epoch = turn.spec(name), graded.window.epochs[-1].epoch
    turn.night.pending_grades -= 1
    spec.last_grade = LastGrade(score=grade.score, letter=grade.letter, source=grade.source)
    turn.emit(
        AppendEvent(name, grade_line(grade, window, spec.step, turn.now)),
        CountGrade(name, window.phase, grade.score, grade.source),
    )
    trigger = Trigger.grade(
        grade.letter,
        grade.score,
        spec.step,
        epoch,
        window.evidence,
        position(turn, name, window.phase, epoch, graded.phase_ended),
    )
    # An epoch graded again after a rollback is a new grade, not a retry of the old one.
    key = ("grade", window.phase, epoch, *((graded.rollbacks,) if graded.rollbacks else ()))
    decision_id, decision, _ = turn.decide(name, trigger, key=key, grade=grade, phase=window.phase)
    phase_over = window.phase != spec.phase or window.phase in spec.finished_phases
    if spec.state in TERMINAL_STATES or graded.phase_ended or phase_over:
        # The phase this window graded is over: the grade and decision stay on record for the morning.
        turn.outcome(decision_id, True, f"{NOT_APPLIED}: the graded phase had already ended")
    elif decision.action == Action.SELECT_BEST:
        turn.outcome(
            decision_id,
            True,
            "no intervention: a specialist's phase promotes its best checkpoint "
            "by val exact match when it ends (promoted.json)",
        )
    else:
        apply(turn, name, decision_id, decision)
    turn.save()


def on_grade_failed(turn: Turn, failed: GradeFailed) -> None:
    """The window goes ungraded (the executor logged why)."""
    turn.night.pending_grades -= 1


def on_fault(turn: Turn, reported: FaultReported) -> None:
    """A hard fault at a step, decided within the step; a retried call gets the same decision back."""
    name, fault = reported.specialist, reported.fault
    spec, tracker = turn.spec(name), turn.night.trackers[name]
    spec.last_heartbeat = turn.now
    if tracker.params is not None:
        tracker.params = tracker.params.model_copy(
            update={"micro_batch": fault.micro_batch, "grad_accum": fault.grad_accum}
        )
    detail = f"{fault.fault} at step {fault.step}: {fault.message}"
    decision_id, decision, new = turn.decide(
        name, fault_trigger(fault, detail), key=("fault", fault.phase, fault.fault, fault.step, fault.time)
    )
    tracker.on_rollback()
    action = fault_action_for(decision)
    if new:
        tracker.hard_faults.append(detail)
        turn.emit(
            AppendEvent(
                name,
                event_line(
                    "fault",
                    fault,
                    "fault",
                    decided_at=turn.now,
                    injected=fault.injected,
                    decision_id=decision_id,
                    action=decision.action.value,
                ),
            )
        )
        if decision.action == Action.ABORT_SPECIALIST and spec.state not in TERMINAL_STATES:
            turn.end(name, "aborted", decision.reason)
    changed = f" with {changes_text(decision)}" if parameter_commands(decision) else ""
    turn.outcome(decision_id, True, f"trainer told to {action.value}{changed}")
    commands = parameter_commands(decision, after_rollback=action is FaultAction.ROLLBACK)
    if decision.action == Action.ABORT_SPECIALIST:
        commands.append(TrainerCommand(name="stop", reason=decision.reason))
    turn.emit(Reply({"fault_action": action.value, "commands": [c.model_dump() for c in commands]}))


def fault_trigger(fault: Fault, detail: str) -> Trigger:
    if fault.fault == "oom":
        return Trigger.oom(detail=detail, step=fault.step, epoch=fault.epoch)
    if fault.fault == "non_finite":
        return Trigger.non_finite(detail=detail, step=fault.step, epoch=fault.epoch)
    return Trigger.crash(detail=detail, step=fault.step, epoch=fault.epoch)
