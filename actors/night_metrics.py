"""The supervisor's side of the metrics: what a night's events, grades, decisions and heartbeats export."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import structlog

from actors.metrics import MetricsRecorder
from agents.budget import BUDGET_FILE, Budget, BudgetError
from report.metric_samples import (
    Sample,
    decision_samples,
    event_samples,
    grade_samples,
    heartbeat_samples,
    spend_samples,
)

log = structlog.get_logger("overnight.metrics")

# Every few seconds the gauges are set again (Ray drops a gauge not set for about 20 s) and the spend is read
# from the run's budget ledger (a locked file).
SPEND_EVERY_S = 5.0


class Recorder(Protocol):
    def record(self, samples: Iterable[Sample]) -> None: ...

    def refresh(self) -> None: ...


class NightMetrics:
    """Turns what the supervisor sees into samples; `recorder` is Ray's in production, a list in tests."""

    def __init__(self, run_dir: Path, budget_usd: float, recorder: Recorder | None = None) -> None:
        self.recorder: Recorder = recorder if recorder is not None else MetricsRecorder()
        self.budget = Budget(budget_usd, run_dir / BUDGET_FILE)
        self._spend_read_at = float("-inf")

    def on_event(self, specialist: str, event: dict[str, Any]) -> None:
        self.recorder.record(event_samples(specialist, event))

    def on_grade(self, specialist: str, phase: str, score: float, source: str) -> None:
        self.recorder.record(grade_samples(specialist, phase, score, source))

    def on_decision(self, specialist: str, action: str, trigger: str) -> None:
        self.recorder.record(decision_samples(specialist, action, trigger))

    def on_tick(self, last_heartbeats: dict[str, float | None], now: float | None = None) -> None:
        """Heartbeat ages of the running specialists; every SPEND_EVERY_S the gauges again and the spend."""
        now = time.time() if now is None else now
        ages = {name: now - beat for name, beat in last_heartbeats.items() if beat is not None}
        self.recorder.record(heartbeat_samples(ages))
        if now - self._spend_read_at >= SPEND_EVERY_S:
            self._spend_read_at = now
            self.recorder.refresh()
            try:
                spent = self.budget.spent_usd
            except BudgetError as err:
                # The grader reports a damaged ledger itself; the gauge just goes without a new value.
                log.warning("grader spend not exported", reason=str(err))
                return
            self.recorder.record(spend_samples(spent, self.budget.limit_usd))
