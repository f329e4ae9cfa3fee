"""The skip-step guard: is a step's loss or gradient norm a spike against its rolling window? (pure)"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from settings.recipe import SpikeGuardSection

MAD_TO_SIGMA = 1.4826
"""Scales the median absolute deviation to a standard deviation for normal data, so z reads in sigmas."""
SCALE_FLOOR = 0.01
"""The scale is at least this fraction of the median: in a near-constant window a tiny wobble is no spike."""

SpikeReason = Literal["loss_spike", "grad_norm_spike"]


@dataclass(frozen=True)
class Spike:
    """Why a step is skipped: which value, its window's median, and how many robust sigmas above it."""

    reason: SpikeReason
    value: float
    median: float
    robust_z: float


def robust_z(value: float, window: list[float]) -> tuple[float, float]:
    """(z, median): how many robust standard deviations `value` lies above the window's median."""
    median = statistics.median(window)
    mad = statistics.median(abs(item - median) for item in window)
    scale = max(MAD_TO_SIGMA * mad, SCALE_FLOOR * abs(median))
    if scale == 0.0:
        # Only a window of zeros gets here: anything above it is infinitely far, anything else is not.
        return (float("inf") if value > median else 0.0), median
    return (value - median) / scale, median


class SpikeGuard:
    """Keeps the last `window` losses and gradient norms of a phase and judges each new step against them.

    Every finite step is recorded, skipped or not (as OLMo-core does): a lasting change of level then
    becomes the new normal within half a window instead of skipping every step after it."""

    def __init__(self, settings: SpikeGuardSection, state: dict[str, Any] | None = None) -> None:
        self.settings = settings
        state = state or {}
        self.losses: deque[float] = deque(state.get("losses", []), maxlen=settings.window)
        self.grad_norms: deque[float] = deque(state.get("grad_norms", []), maxlen=settings.window)
        self.skipped: int = int(state.get("skipped", 0))
        """Steps skipped in this phase so far."""

    @property
    def armed(self) -> bool:
        return self.settings.enabled and len(self.losses) >= self.settings.min_window

    def check(self, loss: float, grad_norm: float) -> Spike | None:
        """Judge one step against the window before it, then record it. A Spike means: skip the update."""
        spike = self._judge(loss, grad_norm) if self.armed else None
        self.losses.append(loss)
        self.grad_norms.append(grad_norm)
        if spike is not None:
            self.skipped += 1
        return spike

    def _judge(self, loss: float, grad_norm: float) -> Spike | None:
        candidates: list[tuple[SpikeReason, float, deque[float]]] = [
            ("loss_spike", loss, self.losses),
            ("grad_norm_spike", grad_norm, self.grad_norms),
        ]
        for reason, value, window in candidates:
            z, median = robust_z(value, list(window))
            if z > self.settings.z_threshold:
                return Spike(reason, value, median, z)
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so a resumed phase judges its next step exactly as before."""
        return {"losses": list(self.losses), "grad_norms": list(self.grad_norms), "skipped": self.skipped}
