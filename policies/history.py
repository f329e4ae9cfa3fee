"""What a policy knows about one specialist: its current parameters, past decisions and checkpoints."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from policies.decisions import Action, Decision, TrainParams, TriggerKind

PASSIVE = frozenset({Action.CONTINUE, Action.FLAG_FOR_REVIEW, Action.SELECT_BEST})
"""Actions that change nothing in the training: an epoch decided so was not acted on."""


class CheckpointInfo(BaseModel):
    """A checkpoint the trainer saved, with the evaluation it was saved with."""

    # NaN and inf are written as JSON strings so a blown-up loss survives a round trip.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    step: int = Field(ge=0)
    epoch: int = Field(ge=0)
    val_loss: float
    exact_match: float | None = Field(default=None, ge=0.0, le=1.0)


class PastDecision(BaseModel):
    """A decision already taken, with the phase it was taken in and how many checkpoints existed then.

    `checkpoints_seen` orders decisions against checkpoints; steps cannot, because a rollback rewinds them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: str
    decision: Decision
    checkpoints_seen: int = Field(ge=0)


class History(BaseModel):
    """The state `decide` reads. Immutable: `after`, `with_checkpoint` and `in_phase` return new histories."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specialist: str = Field(min_length=1)
    phase: str = Field(min_length=1)
    params: TrainParams
    decisions: list[PastDecision] = Field(default_factory=list, description="Oldest first.")
    checkpoints: list[CheckpointInfo] = Field(default_factory=list, description="Oldest first.")

    def interventions(self, phase: str | None = None) -> int:
        """Policy interventions so far, for the whole specialist or for one phase."""
        return sum(1 for past in self.decisions
                   if past.decision.counts_as_intervention and (phase is None or past.phase == phase))

    def crash_restarts(self) -> int:
        return sum(1 for past in self.decisions
                   if past.decision.trigger.kind is TriggerKind.CRASH
                   and past.decision.action is Action.RESTART_TRAINER)

    def abort(self) -> Decision | None:
        """The abort decision, if the specialist was aborted."""
        return next((past.decision for past in self.decisions
                     if past.decision.action is Action.ABORT_SPECIALIST), None)

    def _in_phase(self, kind: TriggerKind) -> list[Decision]:
        return [past.decision for past in self.decisions
                if past.phase == self.phase and past.decision.trigger.kind is kind]

    def acted_on(self, epoch: int) -> Decision | None:
        """The grade decision that already acted on `epoch` of this phase (it is not acted on again)."""
        return next((d for d in self._in_phase(TriggerKind.GRADE)
                     if d.trigger.epoch == epoch and d.action not in PASSIVE), None)

    def extra_epochs(self) -> int:
        """Epochs this phase was extended by so far."""
        return sum((d.params_after.epochs or 0) - (d.params_before.epochs or 0)
                   for d in self._in_phase(TriggerKind.GRADE) if d.action is Action.EXTEND_PHASE)

    def non_finite_decisions(self) -> int:
        """Non-finite steps this phase already acted on (the first rolls back, later ones also halve)."""
        return sum(1 for d in self._in_phase(TriggerKind.NON_FINITE) if d.action is not Action.CONTINUE)

    def spike_decisions(self) -> int:
        """Decisions this phase already took on repeated spikes (the first halves, later ones roll back)."""
        return sum(1 for d in self._in_phase(TriggerKind.SPIKES) if d.action is not Action.CONTINUE)

    def lr_cooldown(self, recovery_tolerance: float) -> str | None:
        """Why the LR may not be halved now (see settings.policies), or None when it may."""
        halvings = [past for past in self.decisions if past.decision.halves_lr]
        if not halvings:
            return None
        last = halvings[-1]
        before = [c for c in self.checkpoints[:last.checkpoints_seen] if math.isfinite(c.val_loss)]
        after = [c for c in self.checkpoints[last.checkpoints_seen:] if math.isfinite(c.val_loss)]
        reference = before[-1].val_loss if before else None
        limit = math.inf if reference is None else reference * (1 + recovery_tolerance)
        if any(c.val_loss <= limit for c in after):
            return None
        halved = last.decision
        halving = f"LR was halved to {halved.params_after.peak_lr:.3g} at step {halved.trigger.step}"
        if not after:
            return f"cool-down: {halving} and no checkpoint has been saved since"
        best = min(c.val_loss for c in after)
        return (f"cool-down: {halving} and no checkpoint since shows recovery (best val loss {best:.4g} > "
                f"{limit:.4g} before it)")

    def after(self, decision: Decision) -> History:
        """This history once `decision` is taken: it is recorded and its parameters are in force."""
        past = PastDecision(phase=self.phase, decision=decision, checkpoints_seen=len(self.checkpoints))
        return self.model_copy(update={"decisions": [*self.decisions, past], "params": decision.params_after})

    def with_checkpoint(self, checkpoint: CheckpointInfo) -> History:
        return self.model_copy(update={"checkpoints": [*self.checkpoints, checkpoint]})

    def in_phase(self, phase: str) -> History:
        """The history as the next phase starts: decisions are kept."""
        return self.model_copy(update={"phase": phase})
