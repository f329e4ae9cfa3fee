"""The window of training metrics a watchdog grades: per-epoch evaluations, per-step losses, hard faults."""

from __future__ import annotations

import itertools
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.evidence_model import Evidence


class EpochRecord(BaseModel):
    """One epoch-end evaluation, as the trainer reports it."""

    # NaN and inf are written as JSON strings so a blown-up loss survives a round trip.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    epoch: int = Field(
        ge=-1,
        description="Epoch number within the run (0-based or 1-based, but increasing); -1: the phase's "
        "starting weights, evaluated before its first step.",
    )
    val_loss: float = Field(description="Mean validation loss; may be non-finite when training blew up.")
    exact_match: float = Field(ge=0.0, le=1.0, description="Fraction of val examples answered exactly right.")
    format_validity: float = Field(
        ge=0.0, le=1.0, description="Fraction of val answers valid in their format."
    )
    lr: float = Field(gt=0.0, description="Learning rate in force at the end of the epoch.")
    n: int | None = Field(
        default=None, ge=0, description="Val examples graded for exact match and validity (the eval subset)."
    )


class MetricWindow(BaseModel):
    """The metrics of one specialist over the last N epochs; the unit a grader grades."""

    # NaN and inf are written as JSON strings so a blown-up loss survives a round trip.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    specialist: str = Field(min_length=1)
    phase: str = Field(min_length=1)
    epochs: list[EpochRecord] = Field(min_length=1, description="Epoch evaluations, oldest first.")
    earlier_epochs: list[EpochRecord] = Field(
        default_factory=list,
        description="The phase's evaluations before this window, in the order they came (a rollback replays "
        "epochs): the trajectory the evidence is judged on.",
    )
    step_losses: list[float] = Field(default_factory=list, description="Training loss per optimizer step.")
    step_grad_norms: list[float] = Field(default_factory=list, description="Gradient norm per step.")
    hard_faults: list[str] = Field(
        default_factory=list,
        description="Faults seen in the window, e.g. 'non_finite_loss at step 12'; any one caps the grade.",
    )
    evidence: Evidence | None = Field(default=None, description="The supervisor's evidence.")
    allowed_actions: list[str] = Field(
        default_factory=list, description="What the policies may do now; the LLM recommends among them."
    )

    @model_validator(mode="after")
    def _epochs_increase(self) -> MetricWindow:
        numbers = [record.epoch for record in self.epochs]
        for earlier, later in itertools.pairwise(numbers):
            if later <= earlier:
                raise ValueError(
                    f"epochs must be strictly increasing, oldest first; got epoch {later} after {earlier} "
                    f"in {numbers}"
                )
        return self

    def non_finite_faults(self) -> list[str]:
        """Hard faults implied by the numbers themselves (NaN or inf loss), named by where they occur."""
        faults: list[str] = []
        first_bad_step = next((i for i, loss in enumerate(self.step_losses) if not math.isfinite(loss)), None)
        if first_bad_step is not None:
            bad_value = self.step_losses[first_bad_step]
            faults.append(f"non_finite_loss at step_losses[{first_bad_step}] = {bad_value}")
        faults.extend(
            f"non_finite_val_loss at epoch {record.epoch} = {record.val_loss}"
            for record in self.epochs
            if not math.isfinite(record.val_loss)
        )
        return faults

    def all_hard_faults(self) -> list[str]:
        """Reported faults plus those the numbers imply, without duplicates, in a stable order."""
        merged = list(self.hard_faults)
        merged.extend(fault for fault in self.non_finite_faults() if fault not in merged)
        return merged

    def summary(self, max_steps_shown: int = 12) -> str:
        """A compact text view for the LLM prompt: one line per epoch and a down-sampled loss curve."""
        lines = [f"specialist={self.specialist} phase={self.phase} epochs={len(self.epochs)} "
                 f"steps={len(self.step_losses)}"]
        lines.append("epoch | val_loss | exact_match | format_validity | lr")
        lines.extend(
            f"{r.epoch} | {r.val_loss:.4g} | {r.exact_match:.3f} | {r.format_validity:.3f} | {r.lr:.3g}"
            for r in self.epochs
        )
        if self.step_losses:
            shown = _downsample(self.step_losses, max_steps_shown)
            curve = ", ".join(f"{index}:{loss:.4g}" for index, loss in shown)
            lines.append(f"step losses (step:loss, {len(shown)} of {len(self.step_losses)} shown): {curve}")
        faults = self.all_hard_faults()
        lines.append("hard faults: " + ("; ".join(faults) if faults else "none"))
        return "\n".join(lines)


def _downsample(values: list[float], limit: int) -> list[tuple[int, float]]:
    """Evenly spaced (index, value) pairs, always keeping the first and the last point."""
    if len(values) <= limit:
        return list(enumerate(values))
    last = len(values) - 1
    indices = sorted({round(i * last / (limit - 1)) for i in range(limit)})
    return [(i, values[i]) for i in indices]
