"""Learning-rate schedule as a function of phase progress, so batch-size changes never bend the curve."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass
class LRSchedule:
    """Linear warmup to peak_lr, then cosine, linear or constant decay to min_lr_ratio * peak_lr.

    Progress is the fraction of the phase's examples consumed (0..1) rather than a step count, so
    halving the micro-batch and doubling accumulation, or any batch change, keeps the same curve.
    `peak_lr` is what a caller's set_lr changes.
    """

    peak_lr: float
    warmup_ratio: float
    shape: Literal["cosine", "linear", "constant"]
    min_lr_ratio: float

    def factor(self, progress: float) -> float:
        progress = min(max(progress, 0.0), 1.0)
        if self.warmup_ratio > 0 and progress < self.warmup_ratio:
            return progress / self.warmup_ratio
        if self.shape == "constant":
            return 1.0
        span = 1.0 - self.warmup_ratio
        decay = (progress - self.warmup_ratio) / span if span > 0 else 1.0
        shaped = 1.0 - decay if self.shape == "linear" else 0.5 * (1.0 + math.cos(math.pi * decay))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * shaped

    def lr_at(self, progress: float) -> float:
        return self.peak_lr * self.factor(progress)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LRSchedule:
        return cls(**state)
