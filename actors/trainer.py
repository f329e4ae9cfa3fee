"""Trainer actor: runs the recipe for one specialist (or the foundation) and streams its events upward."""

from __future__ import annotations

import os
import traceback
from typing import Any, Protocol

import torch
from pydantic import BaseModel

from control.commands import BEST_CHECKPOINT, TrainerCommand
from settings.recipe import FOUNDATION
from settings.run import RunConfig
from training.checkpoint import best_checkpoint
from training.events import Event, Fault
from training.hooks import FaultAction, TrainerHooks
from training.job import JobSpec, train_job
from training.recipe import train_foundation, train_specialist


class SupervisorLink(Protocol):
    """How a trainer talks to its supervisor (a Ray handle in production, the object itself in tests)."""

    def report(self, specialist: str, event: dict[str, Any]) -> None:
        """Fire-and-forget: a step, evaluation, heartbeat, checkpoint or phase event."""

    def decide_fault(self, specialist: str, fault: dict[str, Any]) -> dict[str, Any]:
        """Blocking: the decision for a fault, as {"fault_action": ..., "commands": [...]}."""

    def trainer_done(self, specialist: str, outcome: dict[str, Any]) -> None:
        """The train() call ended: {"ok": True, "result": ...} or {"ok": False, "error": ...}."""


class Trainer:
    """Holds one recipe run; thin: everything it does is in training/ and policies/."""

    def __init__(
        self, config: RunConfig, specialist: str, link: SupervisorLink, torch_threads: int = 1
    ) -> None:
        self.config = config
        self.specialist = specialist
        self.link = link
        # Two trainers on two cores must not each start a thread per core.
        torch.set_num_threads(max(1, torch_threads))
        self.hooks = TrainerHooks(on_event=self._forward, on_fault=self._decide_fault)
        self.phase: str | None = None

    def train(self, job: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run (or resume) every remaining phase, or the given continuous-training job. Idempotent: a retry
        resumes from the newest checkpoint."""
        # A stop that ended the previous call (a preempted job) must not end this one.
        self.hooks = TrainerHooks(on_event=self._forward, on_fault=self._decide_fault)
        try:
            if job is not None:
                outcome: BaseModel = train_job(
                    self.config, JobSpec.model_validate(job), self.hooks, progress=False
                )
            elif self.specialist == FOUNDATION:
                outcome = train_foundation(self.config, self.hooks, resume=True, progress=False)
            else:
                outcome = train_specialist(
                    self.config, self.specialist, self.hooks, resume=True, progress=False
                )
        except Exception as err:
            # Report the crash instead of dying silently; the supervisor decides whether to restart.
            failed = {
                "ok": False,
                "error": f"{err.__class__.__name__}: {err}",
                "traceback": traceback.format_exc(limit=8),
                "job": job["id"] if job else None,
            }
            self.link.trainer_done(self.specialist, failed)
            return failed
        done = {"ok": True, "result": outcome.model_dump(mode="json"), "job": job["id"] if job else None}
        self.link.trainer_done(self.specialist, done)
        return done

    def command(self, command: dict[str, Any]) -> None:
        """Apply a supervisor or user request at the next step boundary."""
        self._resolved(TrainerCommand.model_validate(command)).apply(self.hooks)

    def _resolved(self, command: TrainerCommand) -> TrainerCommand:
        """Turn a rollback to "best" into this phase's best checkpoint (the newest valid one when none)."""
        if command.name != "rollback" or command.checkpoint != BEST_CHECKPOINT:
            return command
        best = None
        if self.phase is not None:
            best = best_checkpoint(self.config.run_dir() / self.specialist / self.phase / "checkpoints")
        return command.model_copy(update={"checkpoint": str(best) if best else None})

    def pid(self) -> int:
        """The worker process id (the chaos tests kill it)."""
        return os.getpid()

    def _forward(self, event: Event) -> None:
        self.phase = event.phase
        self.link.report(self.specialist, event.model_dump(mode="json"))

    def _decide_fault(self, fault: Fault) -> FaultAction:
        answer = self.link.decide_fault(self.specialist, fault.model_dump(mode="json"))
        for command in answer.get("commands", []):
            self._resolved(TrainerCommand.model_validate(command)).apply(self.hooks)
        return FaultAction(answer["fault_action"])
