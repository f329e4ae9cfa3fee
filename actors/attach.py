"""The driver's side of a night: start or re-attach to this run's named supervisor on a connected cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray

from actors.remote import kill_run_actors, spawn_supervisor
from control.run_files import RUN_CONFIG_FILE


class ClusterBusy(Exception):
    """The cluster's supervisor runs another run, still going; `.run` names it."""

    def __init__(self, run: str) -> None:
        super().__init__(
            f"the cluster's supervisor is running run {run!r}; wait for it to finish, or end it with "
            f"`overnight ctl stop-run --run {run}`"
        )
        self.run = run


def attach_supervisor(config: Any, run_dir: Path) -> Any:
    """The named supervisor of this run (an existing one is reused, so a rerun of the driver re-attaches).
    A finished run's supervisor left on the cluster (its driver was gone) gives way to this run; one still
    running another run raises ClusterBusy: two supervisors never share the name."""
    copy = str(run_dir / RUN_CONFIG_FILE)
    supervisor = spawn_supervisor(config, str(run_dir), copy)
    state = ray.get(supervisor.status.remote())
    if state["run"] != config.run.name and state["status"] != "running":
        kill_run_actors(list(state["specialists"]))
        supervisor = spawn_supervisor(config, str(run_dir), copy)
        state = ray.get(supervisor.status.remote())
    if state["run"] != config.run.name:
        raise ClusterBusy(state["run"])
    return supervisor
