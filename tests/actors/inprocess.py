"""The supervisor in-process for tests: trainers as threads in this process (ThreadWorkers), and helpers to
build a night, wait for it and read what it wrote. No Ray."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors.supervisor import Supervisor
from actors.trainer import Trainer
from actors.watchdog import Watchdog
from control.run_files import DECISIONS_FILE
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import merged

RUN_TIMEOUT_S = 120.0


class _Detached:
    """What a replaced trainer talks to: nobody listens, and its faults stop its phase."""

    def report(self, specialist: str, event: dict[str, Any]) -> None:
        return None

    def decide_fault(self, specialist: str, fault: dict[str, Any]) -> dict[str, Any]:
        return {"fault_action": "stop_phase", "commands": []}

    def trainer_done(self, specialist: str, outcome: dict[str, Any]) -> None:
        return None


class ThreadWorkers:
    """The supervisor's Workers as threads in this process: each trainer is a real `Trainer` running the
    recipe, with the supervisor object itself as its link; each watchdog is a real `Watchdog`.

    It keeps the semantics of actors/remote.py: a trainer exists from its first start or command (the named
    actor is created with get_if_exists); a train() while one is in flight, reporting its end included, is a
    no-op (TrainerActor's busy lock); a restart re-runs only the train() that was in flight (Ray retries
    in-flight tasks of a restarted actor, nothing else)."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.supervisor: Supervisor | None = None
        self.trainers: dict[str, Trainer] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.watchdogs: dict[str, Watchdog] = {}
        self.died: list[tuple[str, str]] = []
        self.promotions: list[str] = []
        self.jobs: dict[str, dict[str, Any] | None] = {}

    def attach(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def _trainer(self, specialist: str) -> Trainer:
        if specialist not in self.trainers:
            assert self.supervisor is not None, "attach() the supervisor before starting trainers"
            self.trainers[specialist] = Trainer(self.config, specialist, self.supervisor, torch_threads=1)
        return self.trainers[specialist]

    def _in_flight(self, specialist: str) -> bool:
        thread = self.threads.get(specialist)
        return thread is not None and thread.is_alive()

    def _run(self, specialist: str, trainer: Trainer, job: dict[str, Any] | None) -> None:
        try:
            trainer.train(job)
        except BaseException as err:  # a dead thread is what lost() reports
            self.died.append((specialist, repr(err)))

    def _train(self, specialist: str, job: dict[str, Any] | None = None) -> None:
        thread = threading.Thread(
            target=self._run, args=(specialist, self._trainer(specialist), job), name=f"trainer:{specialist}",
            daemon=True,
        )  # fmt: skip
        self.threads[specialist] = thread
        thread.start()

    def start(self, specialist: str, job: dict[str, Any] | None = None) -> None:
        self.jobs[specialist] = job
        if not self._in_flight(specialist):
            self._train(specialist, job)

    def exists(self, specialist: str) -> bool:
        return specialist in self.trainers

    def promoted(self, specialist: str) -> None:
        self.promotions.append(specialist)  # no router in this executor

    def send(self, specialist: str, command: dict[str, Any]) -> None:
        self._trainer(specialist).command(command)

    def _retire(self, specialist: str, reason: str) -> threading.Thread | None:
        """A thread cannot be killed: cut its trainer off from the supervisor and ask it to stop."""
        trainer = self.trainers.pop(specialist, None)
        if trainer is not None:
            trainer.link = _Detached()
            trainer.hooks.stop(reason)
        return self.threads.get(specialist)

    def restart(self, specialist: str) -> None:
        in_flight = self._in_flight(specialist)
        old = self._retire(specialist, "restarted by the supervisor")

        def replace() -> None:
            # Wait outside the supervisor's lock (it is held here) for the old trainer's final checkpoint.
            if old is not None:
                old.join(timeout=60)
            assert self.supervisor is not None
            self._trainer(specialist)
            self.supervisor.report(specialist, {"kind": "actor_started", "pid": -1, "time": time.time()})
            if in_flight:
                self._train(specialist, self.jobs.get(specialist))

        threading.Thread(target=replace, name=f"restart:{specialist}", daemon=True).start()

    def kill(self, specialist: str) -> None:
        self._retire(specialist, "killed by the supervisor")

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        if specialist not in self.watchdogs:
            self.watchdogs[specialist] = Watchdog(specialist, self.config.grader)
        return self.watchdogs[specialist].grade(window)

    def lost(self) -> list[tuple[str, str]]:
        lost, self.died = self.died, []
        return lost

    def join(self, timeout_s: float) -> None:
        for thread in list(self.threads.values()):
            thread.join(timeout=timeout_s)


def build(
    run_data: dict[str, Any],
    cls: type[Supervisor] = Supervisor,
    workers_cls: type[ThreadWorkers] = ThreadWorkers,
) -> tuple[Supervisor, ThreadWorkers, RunConfig]:
    config = config_from_dict(run_data, RunConfig)
    workers = workers_cls(config)
    supervisor = cls(config, str(config.run_dir()), "in-process", workers)
    workers.attach(supervisor)
    return supervisor, workers, config


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = RUN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.05)


def run_to_end(supervisor: Supervisor, workers: ThreadWorkers) -> dict[str, Any]:
    supervisor.start()
    wait_until(lambda: supervisor.status()["status"] != "running", "the run to finish")
    supervisor.shutdown()
    workers.join(timeout_s=30)
    return supervisor.status()


def fast(data: dict[str, Any]) -> dict[str, Any]:
    """Every epoch graded, and a supervisor loop quick enough for a test. Specialists train one after
    another: transformers' model loading is not thread-safe (two at once fail on meta tensors)."""
    return merged(
        data,
        {
            "watchdog": {"every_epochs": 1},
            "supervisor": {"poll_interval_s": 0.05, "parallel_specialists": False},
        },
    )


def log_lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / DECISIONS_FILE).read_text().splitlines()]


def events(run_dir: Path, specialist: str, kind: str) -> list[dict[str, Any]]:
    lines = (run_dir / "events" / f"{specialist}.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["type"] == kind]


