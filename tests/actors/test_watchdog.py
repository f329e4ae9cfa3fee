"""Watchdogs in-process: `budget_usd` is one cap for the whole run, shared by every watchdog and kept across
restarts, and a stuck grade never holds up the next one."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from actors.watchdog import Watchdog
from agents.budget import BUDGET_FILE
from settings.grader import GraderSection
from tests.agents.hostile_messages_server import HostileMessagesServer, grade_call, message, trickled
from tests.agents.test_llm_grader import answer
from tests.agents.window_factory import make_window

KEY_ENV = "OVERNIGHT_WATCHDOG_TEST_KEY"
# Billed 1000 in + 900 out = $0.0055 each; a call reserves about $0.0064 (its prompt estimate and 1000 out).
BILLED = {"input_tokens": 1000, "output_tokens": 900}


def grader_data(url: str, **llm: Any) -> GraderSection:
    llm_settings = {"base_url": url, "api_key_env": KEY_ENV, "max_retries": 0, "max_tokens": 1000, **llm}
    return GraderSection.model_validate({"llm": llm_settings})


@pytest.fixture
def window() -> dict[str, Any]:
    return make_window(exact=0.85, validity=0.97).model_dump(mode="json")


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-watchdog-test")


def test_two_watchdogs_share_one_cap_and_a_restart_keeps_the_count(tmp_path: Path,
                                                                    window: dict[str, Any]) -> None:
    good = message([grade_call(answer(30, 20, 15, 20))], **BILLED)
    with HostileMessagesServer(good, good) as server:
        # $0.0100 covers one call: after $0.0055 spent, another $0.0064 reservation would pass the cap.
        data = grader_data(server.url, budget_usd=0.0100)
        ascii_grade = Watchdog("ascii", data, str(tmp_path)).grade(window)
        runic = Watchdog("runic", data, str(tmp_path))
        runic_grade = runic.grade(window)
        restarted_ascii = Watchdog("ascii", data, str(tmp_path))
        again = restarted_ascii.grade(window)
        assert len(server.arrivals) == 1
    assert ascii_grade["source"] == "llm"
    for refused in (runic_grade, again):
        assert refused["source"] == "rubric"
        assert refused["fallback_reason"].startswith("budget exhausted: spent $0.0055 of $0.0100")
    assert restarted_ascii.spent_usd() == pytest.approx(0.0055)
    assert runic.budget()["refused"] == 2
    assert json.loads((tmp_path / BUDGET_FILE).read_text())["calls"] == 1


def test_without_a_run_directory_the_budget_is_the_watchdogs_own(tmp_path: Path,
                                                                  window: dict[str, Any]) -> None:
    good = message([grade_call(answer(30, 20, 15, 20))], **BILLED)
    with HostileMessagesServer(good) as server:
        watchdog = Watchdog("ascii", grader_data(server.url))
        assert watchdog.grade(window)["source"] == "llm"
    assert watchdog.spent_usd() == pytest.approx(0.0055)
    assert not (tmp_path / BUDGET_FILE).exists()


def test_a_stuck_grade_does_not_hold_the_next_one(tmp_path: Path, window: dict[str, Any]) -> None:
    stuck = trickled(message([grade_call(answer(30, 20, 15, 20))]), byte_interval_s=1.0)
    good = message([grade_call(answer(30, 20, 15, 20))], **BILLED)
    with HostileMessagesServer(stuck, good) as server:
        watchdog = Watchdog("ascii", grader_data(server.url, deadline_s=3.0, timeout_s=30.0), str(tmp_path))
        results: dict[str, tuple[dict[str, Any], float]] = {}

        def grade(name: str) -> None:
            started = time.monotonic()
            results[name] = (watchdog.grade(window), time.monotonic() - started)

        first = threading.Thread(target=grade, args=("stuck",))
        first.start()
        while not server.arrivals:
            time.sleep(0.01)
        grade("next")
        assert "stuck" not in results, "the next grade waited for the stuck one"
        first.join(timeout=10)
    (stuck_grade, stuck_s), (next_grade, _) = results["stuck"], results["next"]
    assert next_grade["source"] == "llm"
    assert stuck_grade["fallback_reason"].startswith("deadline: no answer within the grade's deadline of 3 s")
    assert 3.0 <= stuck_s < 4.0


def test_a_ledger_that_cannot_be_opened_leaves_the_rubric_grade(tmp_path: Path,
                                                                  window: dict[str, Any]) -> None:
    not_a_directory = tmp_path / "run"
    not_a_directory.write_text("a file where the run directory should be")
    with HostileMessagesServer() as server:
        grade = Watchdog("ascii", grader_data(server.url), str(not_a_directory)).grade(window)
        assert server.arrivals == []
    assert grade["source"] == "rubric"
    assert grade["fallback_reason"].startswith(f"budget ledger {not_a_directory / BUDGET_FILE} cannot be "
                                               f"opened ([Errno 17] File exists")
