"""The trainer as a Ray actor. Light on purpose: Ray makes every process that creates or hosts an actor
import the module its class lives in, so the recipe (torch, transformers, peft) is imported in __init__,
in the trainer's own process, never in the supervisor or the driver that only start it."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

import ray

from actors.names import NAMESPACE, SUPERVISOR_NAME

if TYPE_CHECKING:
    from actors.trainer import Trainer
    from settings.run import RunConfig


class RaySupervisorLink:
    """A trainer's line to the named supervisor; calls are retried by Ray across supervisor restarts."""

    def __init__(self) -> None:
        self.handle = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)

    def report(self, specialist: str, event: dict[str, Any]) -> None:
        self.handle.report.remote(specialist, event)

    def decide_fault(self, specialist: str, fault: dict[str, Any]) -> dict[str, Any]:
        return ray.get(self.handle.decide_fault.remote(specialist, fault))

    def trainer_done(self, specialist: str, outcome: dict[str, Any]) -> None:
        ray.get(self.handle.trainer_done.remote(specialist, outcome))


class TrainerActor:
    """A Trainer wired to the named supervisor; tells it when Ray restarted this process."""

    def __init__(self, config: RunConfig, specialist: str, torch_threads: int) -> None:
        from actors.trainer import Trainer  # the recipe's imports, in this process only

        link = RaySupervisorLink()
        self.trainer: Trainer = Trainer(config, specialist, link, torch_threads)
        self._busy = threading.Lock()
        # The supervisor compares pids: a new process it did not ask for is a crash that Ray restarted.
        link.report(specialist, {"kind": "actor_started", "pid": os.getpid(), "time": time.time()})

    def train(self, job: dict[str, Any] | None = None) -> dict[str, Any]:
        """Trainer.train; a second call while one runs (a restarted supervisor re-attaching) must not train
        twice at once, so it returns at once."""
        if not self._busy.acquire(blocking=False):
            return {"ok": True, "already_running": True}
        try:
            return self.trainer.train(job)
        finally:
            self._busy.release()

    def command(self, command: dict[str, Any]) -> None:
        """Trainer.command: applied at the next step boundary."""
        self.trainer.command(command)

    def pid(self) -> int:
        """The worker process id (the chaos tests kill it)."""
        return os.getpid()
