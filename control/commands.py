"""How a policy decision or a user control becomes steering of a running recipe (pure; no Ray)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from policies.decisions import Action, Decision
from training.hooks import FaultAction, TrainerHooks

BEST_CHECKPOINT = "best"
"""A rollback target the trainer replaces with its phase's best checkpoint by val exact match."""

CommandName = Literal[
    "set_lr", "set_batch", "set_epochs", "rollback", "pause", "resume", "stop", "skip_phase", "checkpoint"
]


class TrainerCommand(BaseModel):
    """One request to a trainer; it takes effect at the recipe's next step boundary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: CommandName
    peak_lr: float | None = None
    """set_lr only: the schedule's new peak LR (a decision's params_after.peak_lr)."""
    micro_batch: int | None = None
    grad_accum: int | None = None
    epochs: int | None = None
    """set_epochs only: the epochs the current phase now trains (stop early, extend)."""
    checkpoint: str | None = None
    """rollback only: a checkpoint directory; None means the newest valid one."""
    reason: str = ""

    def apply(self, hooks: TrainerHooks) -> None:
        """Hand the request to the recipe's hooks."""
        if self.name == "set_lr" and self.peak_lr is not None:
            hooks.set_lr(self.peak_lr)
        elif self.name == "set_batch" and self.micro_batch is not None and self.grad_accum is not None:
            hooks.set_batch(self.micro_batch, self.grad_accum)
        elif self.name == "set_epochs" and self.epochs is not None:
            hooks.set_epochs(self.epochs)
        elif self.name == "rollback":
            hooks.rollback(self.checkpoint)
        elif self.name == "pause":
            hooks.request_checkpoint()
            hooks.pause()
        elif self.name == "resume":
            hooks.resume()
        elif self.name == "stop":
            hooks.stop(self.reason or "stop requested")
        elif self.name == "skip_phase":
            hooks.skip_phase(self.reason or "skip requested")
        elif self.name == "checkpoint":
            hooks.request_checkpoint()
        else:
            raise ValueError(f"command {self.name!r} is missing its parameters: {self.model_dump()}")


def parameter_commands(decision: Decision, after_rollback: bool = False) -> list[TrainerCommand]:
    """The LR and batch changes a decision makes (none when the parameters stay the same). After a rollback
    both are sent whatever changed: the restored checkpoint may hold values from before earlier decisions."""
    before, after = decision.params_before, decision.params_after
    commands: list[TrainerCommand] = []
    if after.peak_lr != before.peak_lr or after_rollback:
        commands.append(TrainerCommand(name="set_lr", peak_lr=after.peak_lr, reason=decision.reason))
    if (after.micro_batch, after.grad_accum) != (before.micro_batch, before.grad_accum) or after_rollback:
        commands.append(
            TrainerCommand(
                name="set_batch",
                micro_batch=after.micro_batch,
                grad_accum=after.grad_accum,
                reason=decision.reason,
            )
        )
    if after.epochs is not None and after.epochs != before.epochs:
        commands.append(TrainerCommand(name="set_epochs", epochs=after.epochs, reason=decision.reason))
    return commands


def commands_for(decision: Decision) -> list[TrainerCommand]:
    """Steering for a decision taken between steps (a grade, a divergence, a user control)."""
    rolls_back = decision.action in (Action.ROLLBACK, Action.SHRINK_BATCH)
    commands = parameter_commands(decision, after_rollback=rolls_back)
    if rolls_back:
        # "best" is resolved by the trainer, which knows its phase's checkpoints; "last_good" is the default.
        target = BEST_CHECKPOINT if decision.checkpoint == "best" else None
        commands.append(TrainerCommand(name="rollback", checkpoint=target, reason=decision.reason))
    elif decision.action == Action.SKIP_PHASE:
        commands.append(TrainerCommand(name="skip_phase", reason=decision.reason))
    elif decision.action == Action.ABORT_SPECIALIST:
        commands.append(TrainerCommand(name="stop", reason=decision.reason))
    return commands


def changes_text(decision: Decision) -> str:
    """The parameters a decision changes, as `peak_lr 1.0e-03 → 5.0e-04, micro_batch 8 → 4` (its outcome)."""
    before, after = decision.params_before.model_dump(), decision.params_after.model_dump()
    return ", ".join(f"{key} {_number(before[key])} → {_number(after[key])}"
                     for key in sorted(after) if before[key] != after[key])


def _number(value: float | int | None) -> str:
    """Learning rates in scientific notation, batch sizes and epochs as they are."""
    return f"{value:.1e}" if isinstance(value, float) and value != 0 and abs(value) < 1e-2 else str(value)


def fault_action_for(decision: Decision) -> FaultAction:
    """What the recipe does with the faulted step, given the decision (weights were not touched)."""
    if decision.action == Action.ABORT_SPECIALIST:
        return FaultAction.STOP_PHASE
    if decision.action in (Action.ROLLBACK, Action.SHRINK_BATCH, Action.HALVE_LR):
        # Resume from the last good checkpoint: the faulted batch may hold the cause.
        return FaultAction.ROLLBACK
    if decision.action == Action.SKIP_PHASE:
        return FaultAction.STOP_PHASE
    return FaultAction.SKIP_STEP
