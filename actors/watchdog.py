"""Watchdog actor: grades one specialist's metric windows (rubric always, the LLM when a key is set)."""

from __future__ import annotations

from typing import Any

from actors.config import GraderSection
from agents.llm_grader import LLMGrader
from agents.metrics import MetricWindow


class Watchdog:
    """Thin: one LLMGrader (which falls back to the rubric by itself) with a per-run budget."""

    def __init__(self, specialist: str, grader_data: dict[str, Any]) -> None:
        self.specialist = specialist
        section = GraderSection.model_validate(grader_data)
        self.grader = LLMGrader(section.llm, section.rubric)

    def grade(self, window_data: dict[str, Any]) -> dict[str, Any]:
        """The grade of a window, as JSON-ready data; it never raises for a misbehaving LLM."""
        window = MetricWindow.model_validate(window_data)
        return self.grader.grade(window).model_dump(mode="json")

    def spent_usd(self) -> float:
        """What the LLM grader has spent so far this run."""
        return self.grader.budget.spent_usd
