"""The run's LLM budget ledger: the cap at its boundary, anomalies, the shared file across processes."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from agents.budget import BUDGET_FILE, KEPT_ANOMALIES, Budget, BudgetError


def test_a_reservation_exactly_at_the_cap_is_allowed_and_a_hair_above_is_refused() -> None:
    budget = Budget(limit_usd=1.0)
    assert budget.reserve(0.75) is not None
    assert budget.reserve(0.2500001) is None
    assert budget.reserve(0.25) is not None
    assert budget.reserve(0.0000001) is None
    state = budget.snapshot()
    assert (state.committed_usd, state.refused) == (1.0, 2)


def test_settling_at_exactly_the_reservation_is_spending_and_above_it_an_anomaly() -> None:
    budget = Budget(limit_usd=1.0)
    # 1000 in at $1/M + 1000 out at $5/M = $0.006.
    exact = budget.reserve(0.006)
    assert exact is not None
    assert budget.settle(exact, 1000, 1000, 1.0, 5.0) is None
    above = budget.reserve(0.006)
    assert above is not None
    anomaly = budget.settle(above, 1001, 1000, 1.0, 5.0)
    assert anomaly == ("usage anomaly: the API reported 1001 input and 1000 output tokens ($0.0060), above "
                       "the $0.0060 reserved for the call; charged $0.0060")
    state = budget.snapshot()
    assert state.spent_usd == pytest.approx(0.012)
    assert (state.calls, state.anomaly_count, state.input_tokens, state.anomalies) == (2, 1, 1000, [anomaly])


def test_released_and_unreadable_calls() -> None:
    budget = Budget(limit_usd=1.0)
    released = budget.reserve(0.5)
    assert released is not None
    budget.release(released)
    unreadable = budget.reserve(0.25)
    assert unreadable is not None
    assert budget.settle_reserved(unreadable) == 0.25
    state = budget.snapshot()
    assert (state.spent_usd, state.calls, state.reservations) == (0.25, 1, {})


def test_only_the_latest_anomalies_are_kept() -> None:
    budget = Budget(limit_usd=100.0)
    for tokens in range(KEPT_ANOMALIES + 5):
        reservation = budget.reserve(0.0)
        assert reservation is not None
        budget.settle(reservation, tokens + 1, 0, 1.0, 5.0)
    state = budget.snapshot()
    assert state.anomaly_count == KEPT_ANOMALIES + 5
    assert len(state.anomalies) == KEPT_ANOMALIES
    assert state.anomalies[-1].startswith(f"usage anomaly: the API reported {KEPT_ANOMALIES + 5} input")


def test_the_ledger_file_is_shared_and_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / BUDGET_FILE
    first = Budget(limit_usd=1.0, path=path)
    reservation = first.reserve(0.6)
    assert reservation is not None
    # Another watchdog, or this one after a restart, sees the reservation of the call in flight.
    assert Budget(limit_usd=1.0, path=path).reserve(0.6) is None
    first.settle(reservation, 100_000, 0, 1.0, 5.0)
    restarted = Budget(limit_usd=1.0, path=path)
    assert restarted.spent_usd == pytest.approx(0.1)
    assert json.loads(path.read_text())["spent_usd"] == pytest.approx(0.1)
    assert restarted.reserve(0.9) is not None
    assert restarted.reserve(0.0000001) is None


def test_a_damaged_ledger_refuses_to_spend_and_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / BUDGET_FILE
    path.write_text('{"spent_usd": "lots"}')
    with pytest.raises(BudgetError, match=r"budget ledger .*llm_budget.json is unreadable \(ValidationError"):
        Budget(limit_usd=1.0, path=path).reserve(0.1)
    assert path.read_text() == '{"spent_usd": "lots"}'


def _reserve_many(path: str, count: int, granted: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    budget = Budget(limit_usd=1.0, path=Path(path))
    granted.put(sum(budget.reserve(0.1) is not None for _ in range(count)))


def test_processes_sharing_the_ledger_never_pass_the_cap(tmp_path: Path) -> None:
    # Four processes race for 40 reservations of $0.1 against a $1 cap: exactly 10 are granted in all.
    path = tmp_path / BUDGET_FILE
    context = multiprocessing.get_context("spawn")
    granted = context.Queue()
    workers = [context.Process(target=_reserve_many, args=(str(path), 10, granted)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(granted.get(timeout=5) for _ in workers) == 10
    state = Budget(limit_usd=1.0, path=path).snapshot()
    assert (len(state.reservations), state.refused) == (10, 30)
    assert state.committed_usd == pytest.approx(1.0)


def test_a_ledger_in_a_place_that_is_not_a_directory_is_a_budget_error(tmp_path: Path) -> None:
    blocker = tmp_path / "run"
    blocker.write_text("not a directory")
    with pytest.raises(BudgetError, match=r"llm_budget.json cannot be opened .*the LLM grader stays off"):
        Budget(limit_usd=1.0, path=blocker / BUDGET_FILE).reserve(0.1)
