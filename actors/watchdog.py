"""Watchdog actor: grades one specialist's metric windows (rubric always, the LLM when a key is set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.budget import BUDGET_FILE, Budget, BudgetState
from agents.llm_grader import LLMGrader
from agents.metrics import MetricWindow
from settings.grader import GraderSection


class Watchdog:
    """Thin: one LLMGrader (which falls back to the rubric by itself, within its deadline).

    With `run_dir`, its budget is the run's ledger (<run dir>/llm_budget.json), shared with every other
    watchdog of the run and kept across restarts; without, the budget is this watchdog's own (tests).
    Grades may run concurrently (the grader is thread-safe), so a slow one never queues the next behind it.
    """

    def __init__(self, specialist: str, section: GraderSection, run_dir: str | None = None) -> None:
        self.specialist = specialist
        budget = None if run_dir is None else Budget(section.llm.budget_usd, Path(run_dir) / BUDGET_FILE)
        self.grader = LLMGrader(section.llm, section.rubric, budget=budget)

    def grade(self, window_data: dict[str, Any]) -> dict[str, Any]:
        """The grade of a window, as JSON-ready data; it never raises for a misbehaving LLM."""
        window = MetricWindow.model_validate(window_data)
        return self.grader.grade(window).model_dump(mode="json")

    def spent_usd(self) -> float:
        """What the LLM grader has spent so far this run (every watchdog's, when the ledger is the run's)."""
        return self.grader.budget.spent_usd

    def budget(self) -> dict[str, Any]:
        """The budget ledger as JSON-ready data (spent, reserved, calls, refused, anomalies)."""
        state: BudgetState = self.grader.budget.snapshot()
        return state.model_dump(mode="json")
