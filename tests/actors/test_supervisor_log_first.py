"""A decision is on disk before its command reaches the trainer: the Workers here read decisions.jsonl
whenever a command, restart or kill arrives, and find the decision there with no outcome yet. (Line order
alone would not show it: acting first and then writing both lines keeps the order.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from actors.supervisor import Supervisor
from policies.decision_log import read_log
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import merged, tiny_run_data


class LogCheckingWorkers:
    """Workers with no trainers: each command is checked against the log on disk at the moment it arrives."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.seen: list[tuple[str, str, list[str]]] = []

    def _pending(self) -> list[str]:
        """Actions of the decisions on disk that have no outcome yet (being acted on now)."""
        return [record.action.value for record in read_log(self.log_path) if record.outcome is None]

    def send(self, specialist: str, command: dict[str, Any]) -> None:
        self.seen.append((specialist, command["name"], self._pending()))

    def restart(self, specialist: str) -> None:
        self.seen.append((specialist, "restart", self._pending()))

    def kill(self, specialist: str) -> None:
        self.seen.append((specialist, "kill", self._pending()))

    def start(self, specialist: str, job: dict[str, Any] | None = None) -> None:
        return None

    def exists(self, specialist: str) -> bool:
        return False

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no window is graded in this test")

    def lost(self) -> list[tuple[str, str]]:
        return []

    def promoted(self, specialist: str) -> None:
        return None


def event(kind: str, step: int, **fields: Any) -> dict[str, Any]:
    where = {"specialist": "ascii", "phase": "main", "epoch": 0, "step": step, "time": time.time() + step}
    return {"kind": kind, **where, **fields}


def test_each_command_finds_its_decision_already_on_disk(tmp_path: Path) -> None:
    data = merged(
        tiny_run_data(tmp_path, "log-first", specialists=("ascii",)), {"watchdog": {"every_epochs": 1}}
    )
    config = config_from_dict(data, RunConfig)
    workers = LogCheckingWorkers(config.run_dir() / "decisions.jsonl")
    supervisor = Supervisor(config, str(config.run_dir()), "in-process", workers)
    ascii_state = supervisor.state.specialists["ascii"]
    ascii_state.state, ascii_state.started_at = "running", time.time()  # launched (its trainer is not needed)
    supervisor.report(
        "ascii",
        event(
            "phase_start",
            0,
            resumed_from=None,
            skipped_checkpoints=[],
            total_steps=100,
            peak_lr=3e-3,
            micro_batch=8,
            grad_accum=1,
        ),
    )
    for step in (1, 2, 3):  # spike_skips 3 within the window: a halve_lr decision
        supervisor.report(
            "ascii",
            event(
                "step_skipped",
                step,
                reason="loss_spike",
                value=9.5,
                median=2.0,
                robust_z=12.0,
                z_threshold=8.0,
                skipped_in_phase=step,
            ),
        )
    supervisor.control("ascii", "pause", request_id="r1")
    supervisor.control("ascii", "stop", request_id="r2")
    assert workers.seen == [
        ("ascii", "set_lr", ["halve_lr"]),
        ("ascii", "pause", ["pause"]),
        ("ascii", "resume", ["abort_specialist"]),
        ("ascii", "stop", ["abort_specialist"]),
    ]
    assert all(record.outcome is not None for record in read_log(workers.log_path))
