"""The vocabulary of policies: actions, triggers, training parameters, and the decision that links them."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.evidence_model import Evidence

CheckpointChoice = Literal["last_good", "best"]


class Action(StrEnum):
    """What the supervisor does about a trigger."""

    CONTINUE = "continue"
    FLAG_FOR_REVIEW = "flag_for_review"
    HALVE_LR = "halve_lr"
    SHRINK_BATCH = "shrink_batch"
    ROLLBACK = "rollback"
    RESTART_TRAINER = "restart_trainer"
    SKIP_PHASE = "skip_phase"
    STOP_EARLY = "stop_early"
    EXTEND_PHASE = "extend_phase"
    SELECT_BEST = "select_best"
    ABORT_SPECIALIST = "abort_specialist"
    # Continuous training (the inbox and its queue); never chosen by a policy, so they spend no budget.
    QUEUE_JOB = "queue_job"
    REJECT_FILE = "reject_file"
    SKIP_DUPLICATE = "skip_duplicate"
    START_JOB = "start_job"
    PREEMPT_JOB = "preempt_job"
    RESUME_JOB = "resume_job"
    PROMOTE_JOB = "promote_job"
    KEEP_UNPROMOTED = "keep_unpromoted"
    FAIL_JOB = "fail_job"
    # A user's controls (`overnight ctl`), logged as themselves; never chosen by a policy.
    PAUSE = "pause"
    RESUME = "resume"
    STOP_RUN = "stop_run"


# Actions that change the run and so spend the intervention budget (when a policy, not a user, chose them).
INTERVENTIONS = frozenset({Action.HALVE_LR, Action.SHRINK_BATCH, Action.ROLLBACK, Action.RESTART_TRAINER})


class TriggerKind(StrEnum):
    """Why a decision is asked for."""

    GRADE = "grade"
    NON_FINITE = "non_finite"
    DIVERGENCE = "divergence"
    OOM = "oom"
    STALL = "stall"
    CRASH = "crash"
    CHECKPOINT_FAILED = "checkpoint_failed"
    SPIKES = "spikes"
    CONTROL = "control"
    INBOX = "inbox"
    JOB = "job"


_REQUIRED_FIELDS: dict[TriggerKind, tuple[str, ...]] = {
    TriggerKind.GRADE: ("letter", "score"),
    TriggerKind.DIVERGENCE: ("loss", "best_loss"),
    TriggerKind.STALL: ("seconds_since_heartbeat",),
    TriggerKind.CONTROL: ("requested",),
    TriggerKind.SPIKES: ("skips",),
}


class PhasePosition(BaseModel):
    """Where a graded evaluation stands in its phase and in the night (what stopping or extending needs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs_planned: int = Field(ge=1, description="Epochs the phase trains now (extensions included).")
    evaluations_left: int = Field(ge=0, description="Evaluations scheduled after this one; 0: the last.")
    seconds_per_epoch: float | None = Field(default=None, gt=0, description="Measured in this phase so far.")
    seconds_left: float | None = Field(default=None, description="Until the night's deadline; None: none.")


class Trigger(BaseModel):
    """An event the policy must answer: a grade, a fault, a missed heartbeat, or a user's control request."""

    # NaN and inf are written as JSON strings so a blown-up loss survives a round trip.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    kind: TriggerKind
    step: int = Field(default=0, ge=0, description="Optimizer step at which the event happened.")
    epoch: int = Field(default=0, ge=0)
    letter: Literal["A", "B", "C", "D", "F"] | None = Field(default=None, description="grade: the letter.")
    score: float | None = Field(default=None, ge=0, le=100, description="grade: the score.")
    loss: float | None = Field(default=None, description="divergence: the current loss.")
    best_loss: float | None = Field(default=None, description="divergence: the window's best loss.")
    seconds_since_heartbeat: float | None = Field(default=None, ge=0, description="stall: silence so far.")
    requested: Action | None = Field(default=None, description="control: the action the user asked for.")
    evidence: Evidence | None = Field(default=None, description="grade: what the window shows.")
    position: PhasePosition | None = Field(default=None, description="grade: where it stands in the phase.")
    skips: int | None = Field(default=None, ge=0, description="spikes: steps skipped within the window.")
    detail: str = Field(default="", description="Free text: the exception, which value was non-finite, ...")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Trigger:
        missing = [name for name in _REQUIRED_FIELDS.get(self.kind, ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind.value!r} trigger needs {', '.join(missing)}")
        return self

    @classmethod
    def grade(
        cls, letter: Literal["A", "B", "C", "D", "F"], score: float, step: int = 0, epoch: int = 0,
        evidence: Evidence | None = None, position: PhasePosition | None = None,
    ) -> Trigger:
        return cls(kind=TriggerKind.GRADE, letter=letter, score=score, step=step, epoch=epoch,
                   evidence=evidence, position=position)

    @classmethod
    def spikes(cls, skips: int, detail: str, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.SPIKES, skips=skips, detail=detail, step=step, epoch=epoch)

    @classmethod
    def non_finite(cls, detail: str, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.NON_FINITE, detail=detail, step=step, epoch=epoch)

    @classmethod
    def divergence(cls, loss: float, best_loss: float, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.DIVERGENCE, loss=loss, best_loss=best_loss, step=step, epoch=epoch)

    @classmethod
    def oom(cls, detail: str = "", step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.OOM, detail=detail, step=step, epoch=epoch)

    @classmethod
    def stall(cls, seconds_since_heartbeat: float, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(
            kind=TriggerKind.STALL, seconds_since_heartbeat=seconds_since_heartbeat, step=step, epoch=epoch
        )

    @classmethod
    def crash(cls, detail: str, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.CRASH, detail=detail, step=step, epoch=epoch)

    @classmethod
    def checkpoint_failed(cls, detail: str, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.CHECKPOINT_FAILED, detail=detail, step=step, epoch=epoch)

    @classmethod
    def control(cls, requested: Action, detail: str = "", step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.CONTROL, requested=requested, detail=detail, step=step, epoch=epoch)

    @classmethod
    def inbox(cls, detail: str) -> Trigger:
        return cls(kind=TriggerKind.INBOX, detail=detail)

    @classmethod
    def job(cls, detail: str, step: int = 0, epoch: int = 0) -> Trigger:
        return cls(kind=TriggerKind.JOB, detail=detail, step=step, epoch=epoch)

    def describe(self) -> str:
        """The trigger in words, with its numbers, as the start of a decision's reason."""
        suffix = f" ({self.detail})" if self.detail else ""
        match self.kind:
            case TriggerKind.GRADE:
                # `epoch` is the recipe's 0-based index; people (status, log) count epochs from 1.
                return f"grade {self.letter} ({self.score:g}/100) at epoch {self.epoch + 1}"
            case TriggerKind.NON_FINITE:
                return f"non-finite loss or gradient at step {self.step}{suffix}"
            case TriggerKind.DIVERGENCE:
                return f"loss {self.loss:.4g} at step {self.step} against window best {self.best_loss:.4g}"
            case TriggerKind.OOM:
                return f"out of memory at step {self.step}{suffix}"
            case TriggerKind.STALL:
                return f"no heartbeat for {self.seconds_since_heartbeat:.0f}s at step {self.step}"
            case TriggerKind.CRASH:
                return f"trainer crashed at step {self.step}{suffix}"
            case TriggerKind.CHECKPOINT_FAILED:
                return f"checkpoint write failed at step {self.step}{suffix}"
            case TriggerKind.SPIKES:
                return f"{self.skips} step(s) skipped as spikes by step {self.step}{suffix}"
            case TriggerKind.CONTROL:
                return f"user control {self.requested.value if self.requested else '?'}{suffix}"
            case TriggerKind.INBOX:
                return f"inbox: {self.detail}"
            case TriggerKind.JOB:
                return f"job: {self.detail}"


class TrainParams(BaseModel):
    """The knobs policies turn. micro_batch × grad_accum is the effective batch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    peak_lr: float = Field(gt=0.0, description="The schedule's peak LR (what halve_lr halves; a trainer "
                           "command's peak_lr). A step's scheduled LR, warmup and decay applied, is "
                           "StepMetrics.lr.")
    micro_batch: int = Field(ge=1)
    grad_accum: int = Field(ge=1)
    epochs: int | None = Field(default=None, ge=1, description="The phase's planned epochs, when a decision "
                               "changes them (stop early, extend); None otherwise.")

    @model_validator(mode="after")
    def _finite_lr(self) -> TrainParams:
        if not math.isfinite(self.peak_lr):
            raise ValueError(f"peak_lr must be finite, got {self.peak_lr}")
        return self

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.grad_accum


class Decision(BaseModel):
    """A policy's answer: what to do, with what parameters, from which checkpoint, and why (with numbers).

    `params_after` is what the trainer runs with after the action, whatever the action is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    trigger: Trigger
    params_before: TrainParams
    params_after: TrainParams
    checkpoint: CheckpointChoice | None = Field(default=None, description="Where to resume from, or None.")
    reason: str

    @property
    def counts_as_intervention(self) -> bool:
        """Whether this decision spends the intervention budget (user controls never do)."""
        return self.action in INTERVENTIONS and self.trigger.kind is not TriggerKind.CONTROL

    @property
    def halves_lr(self) -> bool:
        return self.params_after.peak_lr < self.params_before.peak_lr
