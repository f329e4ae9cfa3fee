"""`decide(trigger, history, limits) -> Decision`: the pure, bounded intervention policy.

A grade's letter is for people; the evidence about the trajectory (agents.evidence) decides:

| trigger                                  | decision                                                        |
|-----------------------------------------|------------------------------------------------------------------|
| grade, the phase's last evaluation       | select the phase's best checkpoint (nothing is left to train)   |
| grade on an epoch already acted on       | continue (the same evidence never triggers two interventions)   |
| grade, improving                         | continue; extend the phase (within max_extra_epochs and the     |
|                                          | night's deadline) when its next evaluation would be its last    |
| grade, inconclusive or without evidence  | continue                                                        |
| grade, plateaued                         | halve the LR; beyond doubt: stop the phase early                |
| grade, unstable (non-finite, spikes)     | halve the LR                                                    |
| grade, regressing beyond the intervals   | roll back to the best checkpoint and halve the LR               |
| spikes (>= spike_skips skipped steps     | halve the LR; the next time in the phase, roll back to the last |
| within spike_window_steps)               | good checkpoint and halve the LR                                |
| non-finite loss or gradient              | roll back to the last good checkpoint; from the phase's second  |
|                                          | one on, roll back and halve the LR                              |
| divergence (loss > k × best)             | roll back to the last good checkpoint and halve the LR          |
| OOM                                      | halve the micro-batch, multiply grad accumulation to keep the   |
|                                          | effective batch, resume from the last good checkpoint           |
| stall (no heartbeat for T s)             | restart the trainer from its last good checkpoint               |
| crash                                    | restart the trainer from its last good checkpoint, up to a limit|
| control (a user's request)               | the requested action, within the LR and micro-batch minimums    |

Bounds (settings.policies): the LR never goes below `min_lr`, the micro-batch never below `min_micro_batch`,
policy interventions are capped per specialist and per phase, crash restarts are capped, and the LR is
not halved twice without a recovered checkpoint in between (the cool-down). When a bound is spent the
decision is abort_specialist, with the bound and its numbers in the reason. User controls spend no
intervention budget and skip the cool-down, but never break the minimums (they are refused instead).
"""

from __future__ import annotations

import math

from policies.decisions import Action, CheckpointChoice, Decision, TrainParams, Trigger, TriggerKind
from policies.history import History
from settings.policies import PolicyLimits

_PASS_THROUGH_CONTROLS = {Action.CONTINUE, Action.FLAG_FOR_REVIEW, Action.SKIP_PHASE, Action.ABORT_SPECIALIST,
                          Action.PAUSE, Action.RESUME, Action.STOP_RUN}


def _decision(action: Action, trigger: Trigger, before: TrainParams, reason: str, *,
              after: TrainParams | None = None, checkpoint: CheckpointChoice | None = None) -> Decision:
    return Decision(action=action, trigger=trigger, params_before=before, params_after=after or before,
                    checkpoint=checkpoint, reason=reason)


def halved_lr(lr: float, limits: PolicyLimits) -> float | None:
    """Half the LR, floored at min_lr; None when the LR is already at (or below) min_lr."""
    if lr <= limits.min_lr:
        return None
    return max(lr / 2, limits.min_lr)


def shrunk_batch(params: TrainParams, limits: PolicyLimits) -> TrainParams | None:
    """The largest micro-batch dividing the current one that is at most half of it, with grad accumulation
    scaled so the effective batch is exactly the same; None when it would go below min_micro_batch."""
    micro = params.micro_batch
    candidates = [size for size in range(micro // 2, limits.min_micro_batch - 1, -1) if micro % size == 0]
    if not candidates:
        return None
    new_micro = candidates[0]
    new_accum = params.grad_accum * (micro // new_micro)
    return params.model_copy(update={"micro_batch": new_micro, "grad_accum": new_accum})


def _lr_text(before: float, after: float) -> str:
    return f"halve LR {before:.3g} -> {after:.3g}"


def _batch_text(before: TrainParams, after: TrainParams) -> str:
    return (f"shrink micro-batch {before.micro_batch} -> {after.micro_batch}, grad accum "
            f"{before.grad_accum} -> {after.grad_accum} (effective batch {after.effective_batch} kept)")


def _at_min_lr(params: TrainParams, limits: PolicyLimits) -> str:
    return f"LR {params.peak_lr:.3g} is already at min_lr {limits.min_lr:.3g}"


def _abort(trigger: Trigger, params: TrainParams, why: str, described: str | None = None) -> Decision:
    reason = f"{described or trigger.describe()}: {why}; abort specialist"
    return _decision(Action.ABORT_SPECIALIST, trigger, params, reason)


def _rollback_and_halve(trigger: Trigger, history: History, limits: PolicyLimits,
                        checkpoint: CheckpointChoice, described: str | None = None) -> Decision:
    params = history.params
    described = described or trigger.describe()
    where = "the best checkpoint" if checkpoint == "best" else "the last good checkpoint"
    cooldown = history.lr_cooldown(limits.recovery_tolerance)
    if cooldown:
        return _decision(Action.ROLLBACK, trigger, params, f"{described}: roll back to {where}; LR "
                         f"{params.peak_lr:.3g} kept ({cooldown})", checkpoint=checkpoint)
    new_lr = halved_lr(params.peak_lr, limits)
    if new_lr is None:
        return _abort(trigger, params, _at_min_lr(params, limits), described)
    return _decision(Action.ROLLBACK, trigger, params, f"{described}: roll back to {where} and "
                     f"{_lr_text(params.peak_lr, new_lr)}",
                     after=params.model_copy(update={"peak_lr": new_lr}), checkpoint=checkpoint)


def _halve(trigger: Trigger, history: History, limits: PolicyLimits, described: str) -> Decision:
    """Halve the LR, or flag for review during the cool-down; abort at min_lr."""
    params = history.params
    cooldown = history.lr_cooldown(limits.recovery_tolerance)
    if cooldown:
        return _decision(Action.FLAG_FOR_REVIEW, trigger, params,
                         f"{described}: LR {params.peak_lr:.3g} not halved ({cooldown}); flagged for review")
    new_lr = halved_lr(params.peak_lr, limits)
    if new_lr is None:
        return _abort(trigger, params, _at_min_lr(params, limits), described)
    return _decision(Action.HALVE_LR, trigger, params, f"{described}: {_lr_text(params.peak_lr, new_lr)}",
                     after=params.model_copy(update={"peak_lr": new_lr}))


def _with_evidence(trigger: Trigger) -> str:
    evidence = trigger.evidence
    assert evidence is not None  # the callers checked
    return f"{trigger.describe()}; evidence {evidence.verdict}: {'; '.join(evidence.reasons)}"


def _epochs(trigger: Trigger, params: TrainParams, epochs: int) -> tuple[TrainParams, TrainParams]:
    """(before, after) parameters of a decision that sets the phase's planned epochs to `epochs`."""
    planned = trigger.position.epochs_planned if trigger.position else None
    return params.model_copy(update={"epochs": planned}), params.model_copy(update={"epochs": epochs})


def _extension(trigger: Trigger, history: History, limits: PolicyLimits) -> tuple[int, str]:
    """(epochs the phase may be extended by, why not more), within max_extra_epochs and the deadline."""
    position = trigger.position
    assert position is not None  # the caller checked
    room = limits.max_extra_epochs - history.extra_epochs()
    why = f"{history.extra_epochs()} of max_extra_epochs {limits.max_extra_epochs} used"
    if position.seconds_left is None:
        return max(room, 0), why
    if position.seconds_per_epoch is None:
        return 0, "no epoch time measured yet to fit an extension before the night's deadline"
    fits = math.floor(position.seconds_left / position.seconds_per_epoch)
    why += (f"; {position.seconds_left:.0f}s left before the night's deadline fit {max(fits, 0)} epoch(s) of "
            f"{position.seconds_per_epoch:.0f}s")
    return max(min(room, fits), 0), why


def _improving(trigger: Trigger, history: History, limits: PolicyLimits, described: str) -> Decision:
    """Continue; extend the phase when its next evaluation is its last and the bounds allow it."""
    params = history.params
    position = trigger.position
    if position is None or position.evaluations_left != 1:
        return _decision(Action.CONTINUE, trigger, params, f"{described}: continue")
    extra, why = _extension(trigger, history, limits)
    if extra < 1:
        return _decision(Action.CONTINUE, trigger, params,
                         f"{described}: the next evaluation ends the phase, not extended ({why}); continue")
    before, after = _epochs(trigger, params, position.epochs_planned + extra)
    return _decision(Action.EXTEND_PHASE, trigger, before, f"{described}: still improving as the phase ends; "
                     f"extend it by {extra} epoch(s), {before.epochs} -> {after.epochs} ({why})", after=after)


def _grade(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    """The letter is for people; the evidence about the trajectory decides (see the module docstring)."""
    params = history.params
    evidence = trigger.evidence
    if evidence is None:
        return _decision(Action.CONTINUE, trigger, params,
                         f"{trigger.describe()}: no evidence with the grade, and a letter alone never "
                         "intervenes; continue")
    described = _with_evidence(trigger)
    if trigger.position is not None and trigger.position.evaluations_left == 0:
        return _decision(Action.SELECT_BEST, trigger, params, f"{described}: the phase's last evaluation, "
                         "nothing left to train; select its best checkpoint by val exact match",
                         checkpoint="best")
    acted = history.acted_on(trigger.epoch)
    if acted is not None:
        return _decision(Action.CONTINUE, trigger, params, f"{described}: epoch {trigger.epoch + 1} was "
                         f"already acted on ({acted.action.value}); not acted on again; continue")
    match evidence.verdict:
        case "improving":
            return _improving(trigger, history, limits, described)
        case "regressing":
            return _rollback_and_halve(trigger, history, limits, "best", described)
        case "unstable":
            return _halve(trigger, history, limits, described)
        case "plateaued" if evidence.plateau_beyond_doubt:
            before, after = _epochs(trigger, params, trigger.epoch + 1)
            return _decision(Action.STOP_EARLY, trigger, before, f"{described}: plateau beyond doubt; stop "
                             f"the phase after {after.epochs} epoch(s) (planned {before.epochs})",
                             after=after)
        case "plateaued":
            return _halve(trigger, history, limits, described)
    return _decision(Action.CONTINUE, trigger, params, f"{described}: continue")


def _spikes(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    """Repeated skipped spikes: the first time halve the LR, then roll back to the last good checkpoint."""
    described = trigger.describe()
    skips = trigger.skips or 0
    if skips < limits.spike_skips:
        return _decision(Action.CONTINUE, trigger, history.params, f"{described}: fewer than spike_skips "
                         f"{limits.spike_skips} within spike_window_steps {limits.spike_window_steps}; "
                         "continue")
    described += f" (>= spike_skips {limits.spike_skips} within {limits.spike_window_steps} steps)"
    if history.spike_decisions():
        return _rollback_and_halve(trigger, history, limits, "last_good", described)
    return _halve(trigger, history, limits, described)


def _non_finite(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    """A non-finite step: the first of the phase rolls back at the same LR (one bad step is no evidence that
    the LR is too high, and halving it slows the whole phase); a second one also halves the LR."""
    earlier = history.non_finite_decisions()
    if earlier:
        described = f"{trigger.describe()} (non-finite step {earlier + 1} of the phase)"
        return _rollback_and_halve(trigger, history, limits, "last_good", described)
    lr = history.params.peak_lr
    return _decision(Action.ROLLBACK, trigger, history.params, f"{trigger.describe()}: the phase's first "
                     f"non-finite step; roll back to the last good checkpoint, LR {lr:.3g} kept (a second "
                     "one halves it)", checkpoint="last_good")


def _diverged(trigger: Trigger, limits: PolicyLimits) -> bool:
    loss, best = trigger.loss, trigger.best_loss
    assert loss is not None and best is not None  # guaranteed by Trigger's validator for this kind
    return not math.isfinite(loss) or loss > limits.divergence_k * best


def _propose(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    """The table's answer for `trigger`, with the parameter minimums and the cool-down applied."""
    params = history.params
    described = trigger.describe()
    match trigger.kind:
        case TriggerKind.GRADE:
            return _grade(trigger, history, limits)
        case TriggerKind.NON_FINITE:
            return _non_finite(trigger, history, limits)
        case TriggerKind.DIVERGENCE:
            if _diverged(trigger, limits):
                return _rollback_and_halve(trigger, history, limits, "last_good")
            return _decision(Action.CONTINUE, trigger, params,
                             f"{described}: within divergence_k {limits.divergence_k:g} x best; continue")
        case TriggerKind.OOM:
            smaller = shrunk_batch(params, limits)
            if smaller is None:
                return _abort(trigger, params, f"micro-batch {params.micro_batch} cannot shrink below "
                                               f"min_micro_batch {limits.min_micro_batch}")
            return _decision(Action.SHRINK_BATCH, trigger, params,
                             f"{described}: {_batch_text(params, smaller)}; resume from the last good "
                             "checkpoint",
                             after=smaller, checkpoint="last_good")
        case TriggerKind.STALL:
            silence = trigger.seconds_since_heartbeat or 0.0
            if silence < limits.stall_seconds:
                return _decision(Action.CONTINUE, trigger, params,
                                 f"{described}: within stall_seconds {limits.stall_seconds:g}; continue")
            return _decision(Action.RESTART_TRAINER, trigger, params, f"{described} (stall_seconds "
                             f"{limits.stall_seconds:g}): restart the trainer from the last good checkpoint",
                             checkpoint="last_good")
        case TriggerKind.CRASH:
            restarts = history.crash_restarts()
            if restarts >= limits.max_crash_restarts:
                return _abort(trigger, params, f"crash restarts spent ({restarts} of max_crash_restarts "
                                               f"{limits.max_crash_restarts})")
            return _decision(Action.RESTART_TRAINER, trigger, params,
                             f"{described}: restart {restarts + 1} of {limits.max_crash_restarts} from the "
                             "last good checkpoint", checkpoint="last_good")
        case TriggerKind.SPIKES:
            return _spikes(trigger, history, limits)
        case TriggerKind.CHECKPOINT_FAILED:
            # Checkpoints are written atomically, so the previous one is intact; the next save tries again.
            return _decision(Action.CONTINUE, trigger, params, f"{described}: the previous checkpoint is "
                             "intact; continue and save again at the next checkpoint")
        case TriggerKind.CONTROL:
            return _control(trigger, history, limits)
        case TriggerKind.INBOX | TriggerKind.JOB:
            raise ValueError(f"{trigger.kind.value} triggers are decided by the job queue, not the policies")


def _control(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    params = history.params
    described = trigger.describe()
    requested = trigger.requested
    if requested in _PASS_THROUGH_CONTROLS:
        assert requested is not None  # guaranteed by Trigger's validator for this kind
        return _decision(requested, trigger, params, f"{described}: {requested.value} as requested")
    if requested is Action.HALVE_LR:
        new_lr = halved_lr(params.peak_lr, limits)
        if new_lr is None:
            return _decision(Action.CONTINUE, trigger, params, f"{described} refused: LR "
                             f"{params.peak_lr:.3g} is already at min_lr {limits.min_lr:.3g}; continue")
        return _decision(Action.HALVE_LR, trigger, params, f"{described}: {_lr_text(params.peak_lr, new_lr)}",
                         after=params.model_copy(update={"peak_lr": new_lr}))
    if requested is Action.SHRINK_BATCH:
        smaller = shrunk_batch(params, limits)
        if smaller is None:
            return _decision(Action.CONTINUE, trigger, params, f"{described} refused: micro-batch "
                             f"{params.micro_batch} cannot shrink below {limits.min_micro_batch}; continue")
        return _decision(Action.SHRINK_BATCH, trigger, params, f"{described}: {_batch_text(params, smaller)}",
                         after=smaller, checkpoint="last_good")
    action = Action.ROLLBACK if requested is Action.ROLLBACK else Action.RESTART_TRAINER
    return _decision(action, trigger, params, f"{described}: {action.value} from the last good checkpoint",
                     checkpoint="last_good")


def _spent_bound(history: History, limits: PolicyLimits) -> str | None:
    """Which intervention bound is spent, with its numbers, or None."""
    total = history.interventions()
    if total >= limits.max_interventions_per_specialist:
        return (f"intervention limit spent ({total} of max_interventions_per_specialist "
                f"{limits.max_interventions_per_specialist} for {history.specialist})")
    in_phase = history.interventions(history.phase)
    if in_phase >= limits.max_interventions_per_phase:
        return (f"intervention limit spent ({in_phase} of max_interventions_per_phase "
                f"{limits.max_interventions_per_phase} in phase {history.phase})")
    return None


def decide(trigger: Trigger, history: History, limits: PolicyLimits | None = None) -> Decision:
    """The decision for `trigger` given `history`, never breaking `limits`. Pure: nothing is mutated."""
    limits = limits or PolicyLimits()
    aborted = history.abort()
    if aborted is not None:
        return _abort(trigger, history.params, f"specialist already aborted ({aborted.reason})")
    proposal = _propose(trigger, history, limits)
    if not proposal.counts_as_intervention:
        return proposal
    spent = _spent_bound(history, limits)
    if spent:
        return _abort(trigger, history.params, f"{spent}; {proposal.action.value} not taken")
    return proposal
