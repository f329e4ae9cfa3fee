"""The evidence a window of metrics gives about a trajectory: intervals, trend, spikes, and the verdict."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["improving", "plateaued", "regressing", "unstable", "inconclusive"]
"""What the window shows, most serious first: unstable, regressing, improving, plateaued, inconclusive."""


class Interval(BaseModel):
    """A fraction measured on n examples, with its Wilson interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epoch: int
    value: float = Field(ge=0.0, le=1.0)
    low: float = Field(ge=0.0, le=1.0)
    high: float = Field(ge=0.0, le=1.0)
    n: int = Field(ge=1)

    def text(self) -> str:
        return f"{self.value:.1%} [{self.low:.1%}, {self.high:.1%}] (n={self.n}, epoch {self.epoch})"


class Trend(BaseModel):
    """The least-squares slope of the val loss per evaluation over the trend's evaluations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: list[int]
    slope: float
    standard_error: float | None = Field(description="None with two points (no residual to judge noise).")
    mean_loss: float


class Spike(BaseModel):
    """A step whose value is far outside its rolling window (robust z-score over median and MAD)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: Literal["loss", "grad_norm"]
    index: int = Field(ge=0, description="Position in the window's step series.")
    value: float
    median: float
    robust_z: float


class Evidence(BaseModel):
    """What a window shows about the trajectory, every number with its uncertainty, and the verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    verdict: Verdict
    reasons: list[str] = Field(description="Why, one line each, quoting the numbers.")
    evaluations: int = Field(ge=0, description="Evaluations on the trajectory (after the last rollback).")
    exact_match: Interval | None = None
    """The last evaluation's exact match."""
    validity: Interval | None = None
    """The last evaluation's format validity."""
    best_exact_match: Interval | None = None
    """The best exact match evaluated before the last one (before a rollback included)."""
    best_validity: Interval | None = None
    trend: Trend | None = None
    spikes: list[Spike] = Field(default_factory=list)
    plateau_beyond_doubt: bool = Field(
        default=False, description="Even the most optimistic slope in the interval is flat."
    )
