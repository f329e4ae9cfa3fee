"""Typed events the recipe sends to its hooks: steps and skipped steps, evaluations, heartbeats, faults."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    """Common fields: who (specialist, phase), where (epoch, step) and when (unix time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specialist: str
    phase: str
    epoch: int
    """0-based epoch being trained (or just evaluated)."""
    step: int
    """1-based optimizer step within the phase (the step in flight, or the last finished one)."""
    time: float = Field(default_factory=time.time)


class StepMetrics(Event):
    """One optimizer step that was applied."""

    kind: Literal["step"] = "step"
    loss: float
    """Mean loss per response token over the whole step (all micro-batches)."""
    grad_norm: float
    """Global L2 gradient norm before clipping."""
    lr: float
    """LR used for this step."""
    peak_lr: float
    """Peak LR of the schedule (what `set_lr` changes)."""
    micro_batch: int
    grad_accum: int
    tokens: int
    """Non-padding tokens processed in this step."""
    tokens_per_s: float
    step_time_s: float
    examples_seen: int
    """Examples consumed in this phase so far (all epochs)."""
    progress: float
    """Fraction of the phase done, 0..1."""


class TaskScore(BaseModel):
    """Generation results for one task family."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int
    exact_match: float
    format_validity: float


class EvalSample(BaseModel):
    """One graded generation, kept for reports and the LLM grader."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    task: str
    format: str
    output: str
    reference: str
    correct: bool
    valid: bool


class EpochEval(Event):
    """Evaluation after an epoch: val loss, exact match and format validity (overall and per task family)."""

    kind: Literal["epoch_eval"] = "epoch_eval"
    train_loss: float | None
    """Mean step loss of the epoch (None when no step finished)."""
    val_loss: float
    exact_match: float | None
    """Fraction of the graded val subset answered correctly (None when eval_subset is 0)."""
    format_validity: float | None
    """Fraction of the graded val subset that parses in the requested format."""
    n_graded: int
    per_task: dict[str, TaskScore]
    samples: list[EvalSample]
    """A few graded answers, failures first."""
    eval_time_s: float
    start: bool = False
    """The phase's starting weights, evaluated before its first step (epoch 0, step 0; eval_at_start)."""


class Heartbeat(Event):
    """Proof of life, sent at most every heartbeat_interval_s while the recipe runs."""

    kind: Literal["heartbeat"] = "heartbeat"
    stage: Literal["setup", "train", "eval", "checkpoint", "paused"]


FaultKind = Literal["non_finite", "oom", "exception", "hang"]


class Fault(Event):
    """Something went wrong at a step. For non_finite and oom the weights were not updated."""

    kind: Literal["fault"] = "fault"
    fault: FaultKind
    values: dict[str, float | None]
    """non_finite: loss and grad_norm; oom: none. Non-finite floats are kept as float('nan'/'inf')."""
    micro_batch: int
    grad_accum: int
    message: str
    injected: bool = False
    """True when fault injection caused it."""


class StepSkipped(Event):
    """The spike guard skipped a step: its loss or gradient norm was far above the phase's rolling window.
    The batch is consumed and no weight or optimizer state changed (like a skipped non-finite step)."""

    kind: Literal["step_skipped"] = "step_skipped"
    reason: Literal["loss_spike", "grad_norm_spike"]
    value: float
    """The loss or gradient norm (before clipping) that was judged a spike."""
    median: float
    """Median of that value over the window of previous steps."""
    robust_z: float
    """(value - median) / (1.4826 * MAD): robust standard deviations above the median."""
    z_threshold: float
    """The configured threshold it exceeded (training.spike_guard.z_threshold)."""
    skipped_in_phase: int
    """Steps the guard has skipped in this phase so far, this one included."""


class CheckpointSaved(Event):
    """A checkpoint was written (atomically, with its checksum manifest)."""

    kind: Literal["checkpoint"] = "checkpoint"
    path: str
    reason: Literal["phase_start", "epoch", "phase_end", "on_demand", "stop"]
    exact_match: float | None


class CheckpointFailed(Event):
    """An epoch checkpoint could not be written; the previous one is intact, training goes on."""

    kind: Literal["checkpoint_failed"] = "checkpoint_failed"
    message: str
    previous_checkpoint: str | None
    """The newest valid checkpoint, which a resume would use."""


class PhaseStarted(Event):
    """A phase begins (fresh or resumed)."""

    kind: Literal["phase_start"] = "phase_start"
    resumed_from: str | None
    skipped_checkpoints: list[str]
    """Corrupt checkpoints passed over while resuming, each with the reason."""
    total_steps: int
    """Planned optimizer steps for the phase at the starting batch size."""
    peak_lr: float
    """The schedule's peak LR the phase starts with: its configured one, or the resumed checkpoint's."""
    micro_batch: int
    grad_accum: int


class RolledBack(Event):
    """The phase was restored to a checkpoint (after a fault decision or a rollback request)."""

    kind: Literal["rollback"] = "rollback"
    checkpoint: str
    skipped_checkpoints: list[str]


PhaseStatus = Literal["completed", "stopped", "skipped", "faulted"]


class PhaseEnded(Event):
    """A phase finished, was stopped, skipped, or stopped because of a fault."""

    kind: Literal["phase_end"] = "phase_end"
    status: PhaseStatus
    reason: str


TrainingEvent = Annotated[
    StepMetrics
    | EpochEval
    | Heartbeat
    | Fault
    | StepSkipped
    | CheckpointSaved
    | CheckpointFailed
    | PhaseStarted
    | RolledBack
    | PhaseEnded,
    Field(discriminator="kind"),
]
