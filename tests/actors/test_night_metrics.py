"""What the supervisor exports: a real in-process supervisor's samples, and the grader spend read from the
run's budget ledger."""

from __future__ import annotations

import json
from pathlib import Path

from actors.night_metrics import SPEND_EVERY_S, NightMetrics
from agents.budget import BUDGET_FILE, Budget
from report.metric_samples import Sample


class ListRecorder:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

        self.refreshed = 0

    def record(self, samples) -> None:  # type: ignore[no-untyped-def]
        self.samples.extend(samples)

    def refresh(self) -> None:
        self.refreshed += 1

    def named(self, name: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.name == name]


def test_heartbeat_ages_of_running_specialists(tmp_path: Path) -> None:
    recorder = ListRecorder()
    metrics = NightMetrics(tmp_path, 1.0, recorder)
    metrics.on_tick({"ascii": 100.0, "runic": None}, now=130.0)
    assert [(s.tags, s.value) for s in recorder.named("overnight_heartbeat_age_seconds")] == [
        ({"specialist": "ascii"}, 30.0)
    ]


def test_spend_is_read_from_the_runs_ledger_at_most_every_few_seconds(tmp_path: Path) -> None:
    recorder = ListRecorder()
    metrics = NightMetrics(tmp_path, 2.0, recorder)
    ledger = Budget(2.0, tmp_path / BUDGET_FILE)
    reservation = ledger.reserve(0.5)
    assert reservation is not None
    ledger.settle_reserved(reservation)
    metrics.on_tick({}, now=1000.0)
    metrics.on_tick({}, now=1000.0 + SPEND_EVERY_S - 0.001)  # too soon: not read again
    metrics.on_tick({}, now=1000.0 + SPEND_EVERY_S)
    assert [s.value for s in recorder.named("overnight_grader_spend_usd")] == [0.5, 0.5]
    assert [s.value for s in recorder.named("overnight_grader_budget_usd")] == [2.0, 2.0]
    assert recorder.refreshed == 2  # the gauges are set again with each read


def test_a_damaged_ledger_leaves_the_spend_unexported_and_the_night_running(tmp_path: Path) -> None:
    (tmp_path / BUDGET_FILE).write_text("{not json", encoding="utf-8")
    recorder = ListRecorder()
    NightMetrics(tmp_path, 1.0, recorder).on_tick({"ascii": 5.0}, now=6.0)
    assert recorder.named("overnight_grader_spend_usd") == []
    assert [s.value for s in recorder.named("overnight_heartbeat_age_seconds")] == [1.0]


def test_decisions_count_as_interventions_except_continue(tmp_path: Path) -> None:
    recorder = ListRecorder()
    metrics = NightMetrics(tmp_path, 1.0, recorder)
    metrics.on_decision("ascii", "continue", "grade")
    metrics.on_decision("ascii", "halve_lr", "spikes")
    assert [s.tags for s in recorder.named("overnight_interventions")] == [
        {"specialist": "ascii", "action": "halve_lr", "trigger": "spikes"}
    ]
    assert json.dumps([s.value for s in recorder.samples]) == "[1.0]"
