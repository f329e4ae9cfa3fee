"""The `training` section (what every phase shares), its per-phase overrides, and fault injection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model, model_validator

from settings.base import StrictModel, raise_problems


class SpikeGuardSection(StrictModel):
    """Skip a step whose loss or gradient norm is far above its rolling window (OLMo's skip-step guard).

    The robust z-score is (value - median) / (1.4826 * MAD) over the previous `window` steps of the phase
    (the scale is at least 1% of the median, so a near-constant window does not make noise a spike).
    Only spikes upward count; a skipped step consumes its batch but changes no weight or optimizer state."""

    enabled: bool = True
    """Check every step (the NaN/inf check runs regardless)."""
    window: int = Field(128, ge=2)
    """Steps of the phase the median and MAD are taken over (OLMo-core's rolling_interval_length)."""
    min_window: int = Field(64, ge=2)
    """Steps observed before the guard arms (OLMo-core arms at half its window); must be <= window."""
    z_threshold: float = Field(8.0, gt=0)
    """A step is skipped when its robust z-score is strictly above this. OLMo-core's 6 is on the mean and
    standard deviation, which heavy tails widen; on the median and MAD, ordinary grad-norm steps of the tiny
    model reached 6.9, so the default leaves room above them."""

    @model_validator(mode="after")
    def _arms_within_window(self) -> SpikeGuardSection:
        if self.min_window > self.window:
            raise_problems([(("min_window",), f"must be <= window ({self.window}), got {self.min_window}")])
        return self


class TrainingSection(StrictModel):
    """Hyperparameters shared by every phase; a phase can override any of them."""

    learning_rate: float = Field(1e-3, gt=0)
    """Peak learning rate (AdamW)."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW decoupled weight decay."""
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    """Fraction of the phase spent warming up linearly from 0 to the peak LR."""
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Decay after warmup."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """LR at the end of the decay, as a fraction of the peak."""
    micro_batch_size: int = Field(16, gt=0)
    """Examples per forward/backward pass."""
    grad_accum_steps: int = Field(1, gt=0)
    """Micro-batches per optimizer step (effective batch = micro_batch_size * grad_accum_steps)."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping threshold (global L2 norm)."""
    max_length: int = Field(256, ge=8)
    """Longest prompt + response in tokens; longer examples are reported, then truncated or dropped."""
    overlong: Literal["truncate", "drop"] = "drop"
    """What to do with examples longer than max_length (always reported with a count and example ids)."""
    bucket_size: int = Field(256, gt=0)
    """Examples sorted by length within each shuffled chunk of this size, so batches pad little."""
    checkpoint_every_epochs: int = Field(1, ge=0)
    """Save a checkpoint every N epochs (0: only at the end of each phase and on demand)."""
    keep_last: int = Field(2, ge=1)
    """Checkpoints kept per phase besides the best one (by val exact match)."""
    eval_every_epochs: int = Field(1, ge=1)
    """Evaluate every N epochs (and always after the last one)."""
    eval_at_start: bool = True
    """Evaluate a fresh phase's starting weights once, before its first step: the phase_start checkpoint then
    carries their exact match (so "best" can be the start) and the supervisor's evidence has the start to
    compare the first epoch with (an LR that spoils the model within an epoch shows as a regression)."""
    eval_subset: int = Field(64, ge=0)
    """Val examples graded by greedy generation each evaluation (0: val loss only)."""
    eval_batch_size: int = Field(32, gt=0)
    """Prompts generated together during evaluation."""
    max_new_tokens: int = Field(160, gt=0)
    """Generation cap during evaluation (also capped at the longest reference + 16)."""
    constrained_decoding: bool = False
    """Decode evaluation answers in a value format under that format's grammar (training.constrained), so
    every one parses. Off by default: format validity then measures what the model learned (the router
    decodes under the grammar by default: router.constrained_decoding)."""
    log_every_steps: int = Field(10, gt=0)
    """Structured log line every N optimizer steps (every step is still sent to the hooks)."""
    heartbeat_interval_s: float = Field(2.0, gt=0)
    """Minimum seconds between heartbeats sent to the hooks while training, evaluating or paused."""
    spike_guard: SpikeGuardSection = Field(default_factory=SpikeGuardSection)
    """Skip-step guard against loss and gradient-norm spikes (see SpikeGuardSection)."""


# Every phase may override any training default; deriving the fields keeps the two from drifting apart.
TrainingOverrides: type[StrictModel] = create_model(
    "TrainingOverrides",
    __base__=StrictModel,
    __doc__="Per-phase overrides of the training defaults (unset keys inherit them).",
    **{
        name: (
            field.annotation | None,
            Field(None, description=f"Overrides training.{name}. {field.description}"),
        )
        for name, field in TrainingSection.model_fields.items()
    },
)


class FaultInjection(StrictModel):
    """Chaos testing on CPU, off by default. Each fault fires once per phase dir (injected_faults.json)."""

    nan_at_step: int | None = Field(None, ge=1)
    """Make the loss NaN at this optimizer step (1-based) of the phase."""
    oom_at_step: int | None = Field(None, ge=1)
    """Raise a simulated out-of-memory error at this step."""
    hang_at_step: int | None = Field(None, ge=1)
    """Stop sending heartbeats and sleep at this step until the hooks ask to stop."""
    crash_at_step: int | None = Field(None, ge=1)
    """Crash at this step (see crash_mode)."""
    spike_at_step: int | None = Field(None, ge=1)
    """Multiply the loss (and so the gradients) of this step by SPIKE_FACTOR, as a bad batch would."""
    disk_full_at_step: int | None = Field(None, ge=1)
    """The first epoch checkpoint written at or after this step fails as if the disk were full (ENOSPC)."""
    crash_mode: Literal["exception", "exit"] = "exception"
    """exception: raise InjectedCrash out of the recipe; exit: os._exit(70), like a killed process."""
