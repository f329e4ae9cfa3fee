"""Watchdogs as the run's real Ray actors (RayWorkers): a stuck grade does not queue the next one, and a
watchdog restarted by Ray carries on from the run's budget ledger instead of from zero."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agents.budget import BUDGET_FILE, Budget
from settings.run import RunConfig
from tests.actors.run_configs import merged, tiny_run_data
from tests.agents.hostile_messages_server import HostileMessagesServer, grade_call, message, trickled
from tests.agents.test_llm_grader import answer
from tests.agents.window_factory import make_window

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.extra]

KEY_ENV = "OVERNIGHT_WATCHDOG_RAY_TEST_KEY"
BILLED = {"input_tokens": 1000, "output_tokens": 900}  # $0.0055 at the default prices


def test_ray_watchdog_answers_past_a_stuck_grade_and_keeps_its_spending_across_a_restart(
        tmp_path: Path) -> None:
    import ray

    from actors.remote import NAMESPACE, RayWorkers, kill_run_actors, watchdog_name

    good = message([grade_call(answer(30, 20, 15, 20))], **BILLED)
    stuck = trickled(message([grade_call(answer(30, 20, 15, 20))]), byte_interval_s=1.0)
    window: dict[str, Any] = make_window(exact=0.85, validity=0.97).model_dump(mode="json")
    with HostileMessagesServer(good, stuck, good, good) as server:
        llm = {"base_url": server.url, "api_key_env": KEY_ENV, "max_retries": 0, "deadline_s": 4.0,
               "timeout_s": 30.0, "max_tokens": 1000}
        data = merged(tiny_run_data(tmp_path / "out"), {"grader": {"llm": llm}})
        config = RunConfig.model_validate(data)
        ray.init(num_cpus=1, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
                 runtime_env={"env_vars": {KEY_ENV: "sk-ray-watchdog-test"}})
        try:
            workers = RayWorkers(config)
            assert workers.grade("ascii", window)["source"] == "llm"
            handle = ray.get_actor(watchdog_name("ascii"), namespace=NAMESPACE)
            stuck_ref = handle.grade.remote(window)
            while len(server.arrivals) < 2:
                time.sleep(0.02)
            started = time.monotonic()
            assert ray.get(handle.grade.remote(window), timeout=3.0)["source"] == "llm"
            assert time.monotonic() - started < 3.0
            assert ray.wait([stuck_ref], timeout=0)[0] == [], "the stuck grade ended before its deadline"
            stuck_grade = ray.get(stuck_ref, timeout=10.0)
            assert stuck_grade["fallback_reason"].startswith("deadline: no answer within")
            # The abandoned attempt stops by itself soon after and releases its reservation (nothing billed).
            waited = time.monotonic() + 10.0
            while ray.get(handle.budget.remote())["reservations"] and time.monotonic() < waited:
                time.sleep(0.1)
            assert ray.get(handle.budget.remote())["reservations"] == {}
            assert ray.get(handle.spent_usd.remote()) == pytest.approx(2 * 0.0055)
            # Ray restarts the killed watchdog (max_restarts); the new process reads the run's ledger.
            ray.kill(handle, no_restart=False)
            assert workers.grade("ascii", window)["source"] == "llm"
            assert ray.get(handle.spent_usd.remote()) == pytest.approx(3 * 0.0055)
            kill_run_actors(["ascii"])
        finally:
            ray.shutdown()
    ledger = Budget(1.0, config.run_dir() / BUDGET_FILE).snapshot()
    assert (ledger.calls, ledger.reservations) == (3, {})
