"""Acting on a between-steps decision, and where a phase stands (its planned epochs, its grading cadence)."""

from __future__ import annotations

from control.commands import commands_for
from control.effects import RestartTrainer
from control.grading import evaluations_left, phase_settings, planned_epochs, seconds_left
from control.night import Night, Turn
from policies.decisions import Action, Decision, PhasePosition


def apply(turn: Turn, name: str, decision_id: str, decision: Decision) -> None:
    """Carry out a decision taken between steps (a grade, a divergence, spikes) and record the outcome."""
    if decision.action == Action.RESTART_TRAINER:
        turn.night.expected_restarts.add(name)
        turn.emit(RestartTrainer(name))
        turn.outcome(decision_id, True, "trainer restarted; it resumes from its newest valid checkpoint")
        return
    commands = commands_for(decision)
    for command in commands:
        turn.send(name, command)
    if decision.params_after.epochs:  # stopped early or extended
        turn.spec(name).epochs_total = decision.params_after.epochs
    if decision.action == Action.ABORT_SPECIALIST:
        turn.end(name, "aborted", decision.reason)
    detail = ", ".join(c.name for c in commands) or "nothing to change"
    turn.outcome(decision_id, True, f"sent to trainer:{name}: {detail}")


def epochs_of(night: Night, name: str, phase: str, configured: bool = False) -> int:
    """The epochs `phase` trains: as configured, or as a stop-early or extend decision set them (a job's
    are its own)."""
    spec = night.run.specialists[name]
    if spec.job == phase:
        return spec.epochs_total
    epochs = phase_settings(night.config, name, phase).epochs
    if configured:
        return epochs
    return planned_epochs((record for _, record in night.book.applied(name)), phase, epochs)


def eval_every(night: Night, name: str, phase: str) -> int:
    return phase_settings(night.config, name, phase).eval_every


def grading_due(night: Night, name: str, phase: str, epoch: int) -> bool:
    """Whether the evaluation of 0-based `epoch` is graded: every N epochs, and always the phase's last."""
    every = night.config.watchdog.every_for(phase)
    return (epoch + 1) % every == 0 or epoch + 1 >= epochs_of(night, name, phase)


def last_evaluation(night: Night, name: str, phase: str, epoch: int) -> bool:
    """Whether no evaluation of the phase follows the one of `epoch`."""
    return not evaluations_left(epoch, epochs_of(night, name, phase), eval_every(night, name, phase))


def position(turn: Turn, name: str, phase: str, epoch: int, phase_ended: bool) -> PhasePosition:
    """Where the graded `epoch` stands: in its phase's plan, and against the night's deadline."""
    night = turn.night
    planned = epochs_of(night, name, phase)
    left = 0 if phase_ended else evaluations_left(epoch, planned, eval_every(night, name, phase))
    return PhasePosition(
        epochs_planned=planned,
        evaluations_left=left,
        seconds_per_epoch=night.trackers[name].seconds_per_epoch(epoch + 1, turn.now),
        seconds_left=seconds_left(night.run.started_at, night.config.policies.night_hours, turn.now),
    )
