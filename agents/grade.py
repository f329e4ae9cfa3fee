"""The grade both graders return: score, letter, per-component points with measured numbers, provenance."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Letter = Literal["A", "B", "C", "D", "F"]
GradeSource = Literal["rubric", "llm"]

# The seeds' 100-point rubric: component name -> maximum points, in prompt and report order.
COMPONENT_MAX_POINTS: dict[str, int] = {
    "loss_convergence": 30,
    "validation_accuracy": 30,
    "format_correctness": 20,
    "progress_consistency": 20,
}

# Lower bound of each letter; F is everything below 60.
LETTER_FLOORS: tuple[tuple[Letter, int], ...] = (("A", 90), ("B", 80), ("C", 70), ("D", 60))


def letter_for_score(score: float) -> Letter:
    """A >= 90, B >= 80, C >= 70, D >= 60, F < 60."""
    for letter, floor in LETTER_FLOORS:
        if score >= floor:
            return letter
    return "F"


class Component(BaseModel):
    """One rubric line: the points given, the numbers measured to give them, and why in one line."""

    # NaN and inf are written as JSON strings so a blown-up loss survives a round trip.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    name: str
    points: int = Field(ge=0)
    max_points: int = Field(gt=0)
    measured: dict[str, float] = Field(default_factory=dict)
    reason: str

    @model_validator(mode="after")
    def _points_within_max(self) -> Component:
        if self.points > self.max_points:
            raise ValueError(
                f"component {self.name!r}: points {self.points} exceed max_points {self.max_points}"
            )
        if "\n" in self.reason:
            raise ValueError(f"component {self.name!r}: reason must be one line, got {self.reason!r}")
        return self


class Grade(BaseModel):
    """A graded metric window.

    `score` is authoritative. When the LLM's score was clamped to the rubric's band, `components` keep the
    LLM's own per-component points and `notes` says so, so their sum can differ from `score`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int = Field(ge=0, le=100)
    letter: Letter
    components: list[Component]
    source: GradeSource
    fallback_reason: str | None = Field(
        default=None, description="Why the LLM grade was not used (set only when source is 'rubric')."
    )
    rationale: str
    recommendation: str | None = None
    hard_faults: list[str] = Field(default_factory=list, description="Any one of these caps the grade at F.")
    notes: list[str] = Field(
        default_factory=list, description="Adjustments made to the LLM's answer: clamping, truncation, caps."
    )
    model: str | None = Field(default=None, description="The configured LLM model, if the LLM grader ran.")

    @model_validator(mode="after")
    def _letter_matches_score(self) -> Grade:
        expected = letter_for_score(self.score)
        if self.letter != expected:
            raise ValueError(
                f"letter {self.letter!r} does not match score {self.score} (expected {expected!r})"
            )
        if self.hard_faults and self.letter != "F":
            raise ValueError(f"hard faults {self.hard_faults} require letter F, got {self.letter!r}")
        return self

    def component(self, name: str) -> Component:
        """The component called `name`; raises KeyError listing the names that exist."""
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(f"no component {name!r}; components are {[c.name for c in self.components]}")
