"""`decide(trigger, history, limits) -> Decision`: the pure, bounded intervention policy.

| trigger                       | decision                                                                  |
|-------------------------------|---------------------------------------------------------------------------|
| grade A or B                  | continue                                                                  |
| grade C                       | continue, flagged for review                                              |
| grade D                       | halve the LR; with memory pressure, shrink the micro-batch instead        |
| grade F                       | roll back to the best checkpoint and halve the LR                         |
| non-finite loss or gradient   | roll back to the last good checkpoint and halve the LR                    |
| divergence (loss > k × best)  | roll back to the last good checkpoint and halve the LR                    |
| OOM                           | halve the micro-batch, multiply grad accumulation to keep the effective   |
|                               | batch, resume from the last good checkpoint                               |
| stall (no heartbeat for T s)  | restart the trainer from its last good checkpoint                         |
| crash                         | restart the trainer from its last good checkpoint, up to a limit          |
| control (a user's request)    | the requested action, within the LR and micro-batch minimums              |

Bounds (policies.limits): the LR never goes below `min_lr`, the micro-batch never below `min_micro_batch`,
policy interventions are capped per specialist and per phase, crash restarts are capped, and the LR is
not halved twice without a recovered checkpoint in between (the cool-down). When a bound is spent the
decision is abort_specialist, with the bound and its numbers in the reason. User controls spend no
intervention budget and skip the cool-down, but never break the minimums (they are refused instead).
"""

from __future__ import annotations

import math

from policies.decisions import Action, CheckpointChoice, Decision, TrainParams, Trigger, TriggerKind
from policies.history import History
from policies.limits import PolicyLimits

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


def _abort(trigger: Trigger, params: TrainParams, why: str) -> Decision:
    reason = f"{trigger.describe()}: {why}; abort specialist"
    return _decision(Action.ABORT_SPECIALIST, trigger, params, reason)


def _rollback_and_halve(trigger: Trigger, history: History, limits: PolicyLimits,
                        checkpoint: CheckpointChoice) -> Decision:
    params = history.params
    where = "the best checkpoint" if checkpoint == "best" else "the last good checkpoint"
    cooldown = history.lr_cooldown(limits.recovery_tolerance)
    if cooldown:
        return _decision(Action.ROLLBACK, trigger, params, f"{trigger.describe()}: roll back to {where}; LR "
                         f"{params.lr:.3g} kept ({cooldown})", checkpoint=checkpoint)
    new_lr = halved_lr(params.lr, limits)
    if new_lr is None:
        return _abort(trigger, params, f"LR {params.lr:.3g} is already at min_lr {limits.min_lr:.3g}")
    return _decision(Action.ROLLBACK, trigger, params, f"{trigger.describe()}: roll back to {where} and "
                     f"{_lr_text(params.lr, new_lr)}", after=params.model_copy(update={"lr": new_lr}),
                     checkpoint=checkpoint)


def _grade_d(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    params = history.params
    described = trigger.describe()
    note = ""
    signs = history.memory_pressure_signs()
    if signs:
        smaller = shrunk_batch(params, limits)
        if smaller is not None:
            return _decision(Action.SHRINK_BATCH, trigger, params, f"{described} under memory pressure "
                             f"({'; '.join(signs)}): {_batch_text(params, smaller)}", after=smaller,
                             checkpoint=None)
        note = f" (memory pressure, but micro-batch {params.micro_batch} cannot shrink below " \
               f"{limits.min_micro_batch})"
    cooldown = history.lr_cooldown(limits.recovery_tolerance)
    if cooldown:
        return _decision(Action.FLAG_FOR_REVIEW, trigger, params,
                         f"{described}: LR {params.lr:.3g} not halved ({cooldown}){note}; flagged for review")
    new_lr = halved_lr(params.lr, limits)
    if new_lr is None:
        return _abort(trigger, params, f"LR {params.lr:.3g} is already at min_lr {limits.min_lr:.3g}{note}")
    return _decision(Action.HALVE_LR, trigger, params, f"{described}: {_lr_text(params.lr, new_lr)}{note}",
                     after=params.model_copy(update={"lr": new_lr}))


def _grade(trigger: Trigger, history: History, limits: PolicyLimits) -> Decision:
    params = history.params
    match trigger.letter:
        case "A" | "B":
            return _decision(Action.CONTINUE, trigger, params, f"{trigger.describe()}: continue")
        case "C":
            return _decision(Action.FLAG_FOR_REVIEW, trigger, params,
                             f"{trigger.describe()}: continue, flagged for review")
        case "D":
            return _grade_d(trigger, history, limits)
        case _:
            return _rollback_and_halve(trigger, history, limits, "best")


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
            return _rollback_and_halve(trigger, history, limits, "last_good")
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
        new_lr = halved_lr(params.lr, limits)
        if new_lr is None:
            return _decision(Action.CONTINUE, trigger, params, f"{described} refused: LR {params.lr:.3g} is "
                             f"already at min_lr {limits.min_lr:.3g}; continue")
        return _decision(Action.HALVE_LR, trigger, params, f"{described}: {_lr_text(params.lr, new_lr)}",
                         after=params.model_copy(update={"lr": new_lr}))
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
