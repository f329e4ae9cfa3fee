"""The run's hard state on disk (run_state.json), so a restarted supervisor or driver continues from it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from control.run_files import RUN_STATE_FILE
from fileio.atomic import write_json_atomic

SpecialistStatus = Literal["pending", "running", "paused", "finished", "stopped", "aborted", "failed"]
TERMINAL_STATES: frozenset[str] = frozenset({"finished", "stopped", "aborted", "failed"})


class LastGrade(BaseModel):
    """The newest grade of a specialist, as shown by `overnight status`."""

    model_config = ConfigDict(extra="forbid")

    score: float
    letter: str
    source: str


class SpecialistState(BaseModel):
    """Where one specialist (or the foundation stage) stands."""

    model_config = ConfigDict(extra="forbid")

    state: SpecialistStatus = "pending"
    phase: str | None = None
    phase_index: int = 0
    phases_total: int = 0
    epoch: int = 0
    epochs_total: int = 0
    step: int = 0
    loss: float | None = None
    lr: float | None = None
    """The scheduled LR of the last step (warmup and decay applied)."""
    peak_lr: float | None = None
    """The schedule's peak LR the trainer runs with now (what a decision halves), from its phase's start
    or its last step."""
    micro_batch: int | None = None
    grad_accum: int | None = None
    last_grade: LastGrade | None = None
    interventions: int = 0
    crash_restarts: int = 0
    phase_rollbacks: int = 0
    """Rollbacks the trainer has done in its current phase (a regraded epoch after one is a new event)."""
    eta_s: float | None = None
    reason: str | None = None
    finished_phases: list[str] = Field(default_factory=list)
    fired_faults: list[str] = Field(default_factory=list)
    """Injected faults (e.g. "phase2:nan_at_step") that already fired; a resumed trainer must not refire."""
    fault_decisions: dict[str, str] = Field(default_factory=dict)
    """Fault key -> decision id, so a retried fault report gets the same decision instead of a second one."""
    last_heartbeat: float | None = None
    """When the trainer last reported; None until a (re)started trainer has reported once."""
    launched_at: float | None = None
    """When the trainer was last (re)started: start-up has its own grace period before a stall counts."""
    trainer_pid: int | None = None
    """Process id of the trainer's current process; a new one that nobody asked for means it crashed."""
    started_at: float | None = None
    finished_at: float | None = None
    job: str | None = None
    """The continuous-training job this specialist's trainer runs now (its phase is the job id)."""
    night_state: SpecialistStatus | None = None
    """How the night's plan left this specialist; it returns to that state when a job ends."""


class RunState(BaseModel):
    """Everything the supervisor must not forget across a restart."""

    model_config = ConfigDict(extra="forbid")

    run: str
    config_path: str
    started_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    finished_at: float | None = None
    status: Literal["running", "finished", "failed"] = "running"
    supervisor_pid: int | None = None
    """Process id of the supervisor that last loaded this state."""
    specialists: dict[str, SpecialistState] = Field(default_factory=dict)
    watch: bool = False
    """`overnight run --watch`: after the plan, the supervisor stays up and trains what the inbox gets."""
    plan_done_at: float | None = None
    """When the night's plan ended (watch mode: the report is written then, and jobs may start)."""

    def unfinished(self) -> list[str]:
        """Names of the specialists that have not reached a terminal state."""
        return [name for name, spec in self.specialists.items() if spec.state not in TERMINAL_STATES]

    def running_heartbeats(self) -> dict[str, float | None]:
        """The last heartbeat time of each running specialist (None before its first)."""
        running = (item for item in self.specialists.items() if item[1].state == "running")
        return {name: spec.last_heartbeat for name, spec in running}


def save_run_state(run_dir: Path, state: RunState) -> None:
    """Persist the state atomically, stamping the update time."""
    state.updated_at = time.time()
    write_json_atomic(run_dir / RUN_STATE_FILE, state.model_dump(mode="json"))


def load_run_state(run_dir: Path) -> RunState | None:
    """The saved state, or None for a new run; a damaged file is an error that says what to do."""
    path = run_dir / RUN_STATE_FILE
    if not path.exists():
        return None
    try:
        return RunState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise RuntimeError(
            f"{path} is not a valid run state ({err.__class__.__name__}: {str(err).splitlines()[0]}). "
            "Start a new run with a different --run-name, or move the file away to restart this run "
            "from its checkpoints."
        ) from err
