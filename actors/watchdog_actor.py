"""The watchdog as a Ray actor. Light on purpose, like actors/trainer_actor.py: the grader's imports load in
the watchdog's own process, not in the supervisor that starts it (and the anthropic SDK only with a key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.watchdog import Watchdog
    from settings.grader import GraderSection


class WatchdogActor:
    """actors/watchdog.Watchdog, built in this process."""

    def __init__(self, specialist: str, section: GraderSection, run_dir: str | None = None) -> None:
        from actors.watchdog import Watchdog  # the grader's imports, in this process only

        self.watchdog: Watchdog = Watchdog(specialist, section, run_dir)

    def grade(self, window_data: dict[str, Any]) -> dict[str, Any]:
        """Watchdog.grade: the grade of a window, as JSON-ready data."""
        return self.watchdog.grade(window_data)

    def spent_usd(self) -> float:
        """Watchdog.spent_usd: what the LLM grader has spent so far this run."""
        return self.watchdog.spent_usd()

    def budget(self) -> dict[str, Any]:
        """Watchdog.budget: the budget ledger as JSON-ready data."""
        return self.watchdog.budget()
