"""The `policies` section: the bounds every policy decision respects (when one is spent the specialist is
aborted cleanly) and the thresholds of the evidence's verdict (each rule in agents/evidence.py).

Cool-down rule: the LR is not halved twice unless a checkpoint taken after the last halving shows
recovery, i.e. its val loss is finite and at most (1 + `recovery_tolerance`) × the val loss of the last
checkpoint taken before that halving (any finite val loss counts when there was none before). During the
cool-down, a grade that would halve is flagged for review instead, and a regression or fault that would roll
back and halve only rolls back.

Extending a phase: at most `max_extra_epochs` epochs per phase in all, and only as many as fit before the
night's deadline (`night_hours` after the run started) at the phase's measured seconds per epoch.
"""

from __future__ import annotations

from pydantic import Field

from settings.base import FrozenSection


class EvidenceThresholds(FrozenSection):
    """Every threshold of the verdict; `agents.evidence` states each rule in full."""

    z: float = Field(default=1.96, gt=0.0, description="Width of every interval, in standard errors.")
    trend_evals: int = Field(default=4, ge=2, description="Latest evaluations the trend is judged on.")
    plateau_evals: int = Field(
        default=3, ge=2, description="Evaluations in the trend before a lack of progress is a plateau."
    )
    early_stop_evals: int = Field(
        default=4, ge=3, description="Evaluations in the trend before a plateau can be beyond doubt."
    )
    plateau_tolerance: float = Field(
        default=0.005, ge=0.0, description="Relative val-loss gain per evaluation below which it is flat."
    )
    loss_regression_tolerance: float = Field(
        default=0.05,
        ge=0.0,
        description="Regressing: the last val loss is more than this (relative) above the best before it, "
        "and exact match did not rise beyond its interval.",
    )
    spike_lookback: int = Field(default=16, ge=3, description="Steps in a spike's rolling median and MAD.")
    spike_z: float = Field(default=6.0, gt=0.0, description="Spike: robust z-score above this.")
    unstable_spikes: int = Field(
        default=3, ge=1, description="Spikes (loss and grad norm) that make it unstable."
    )


class PolicyLimits(FrozenSection):
    """Bounds and thresholds of the intervention policies."""

    min_lr: float = Field(default=1e-6, gt=0.0, description="LR floor; at it, abort.")
    min_micro_batch: int = Field(default=1, ge=1, description="The micro-batch never shrinks below this.")
    max_interventions_per_specialist: int = Field(
        default=8, ge=0, description="Policy interventions (halve LR, shrink, rollback, restart)."
    )
    max_interventions_per_phase: int = Field(default=4, ge=0, description="The same, per training phase.")
    max_crash_restarts: int = Field(default=3, ge=0, description="Restarts after crashes.")
    divergence_k: float = Field(
        default=3.0, gt=1.0, description="Divergence: the loss exceeds k × the window's best loss."
    )
    stall_seconds: float = Field(default=600.0, gt=0.0, description="Stall: heartbeat silence.")
    recovery_tolerance: float = Field(
        default=0.0, ge=0.0, description="Cool-down: how much worse a 'recovered' checkpoint may be."
    )
    spike_skips: int = Field(
        default=3, ge=1, description="Steps skipped as spikes within spike_window_steps that make a decision."
    )
    spike_window_steps: int = Field(default=50, ge=1, description="The window those skips are counted in.")
    max_extra_epochs: int = Field(default=2, ge=0, description="Epochs a phase may be extended by, in all.")
    night_hours: float | None = Field(
        default=8.0, gt=0.0, description="The night's deadline after the run started; None: no deadline."
    )
    evidence: EvidenceThresholds = Field(
        default_factory=EvidenceThresholds, description="Thresholds of the evidence's verdict."
    )
