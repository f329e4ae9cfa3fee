"""Losing the node that holds a trainer moves the trainer to a live node, where it resumes.

A multi-node cluster is simulated on this machine with ray.cluster_utils.Cluster: a head that takes no
trainer (0 CPUs) and two worker nodes. An injected hang pins the trainer at step 12, so the node is removed
while the trainer is certainly on it and mid-phase, however fast or slow the machine is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.actors.run_configs import REPO_ROOT
from tests.actors.test_chaos import (
    _crash_decisions,
    _wait_for,
    chaos_config,
    decisions,
    hung_trainer_pid,
    overnight_command,
    resumed_starts,
    run_state,
    states,
    write_config,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.cluster]


def node_of(pid: int, nodes: list[Any]) -> Any:
    """The simulated node whose raylet is an ancestor of process `pid`."""
    ancestors = {parent.pid for parent in psutil.Process(pid).parents()}
    for node in nodes:
        raylet = node.all_processes["raylet"][0].process.pid
        if raylet in ancestors:
            return node
    raise AssertionError(f"process {pid} belongs to no simulated node")


def test_losing_the_trainers_node_moves_it_to_a_live_node(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    # Each worker node has room for two trainers, so the moved trainer fits on the survivor even if the
    # foundation's finished trainer has not given its CPU back yet. The supervisor and watchdog (0 CPUs) may
    # be on the lost node too; Ray restarts them as well.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=2), cluster.add_node(num_cpus=2)]
    cluster.wait_for_nodes()
    # stall_seconds far above a restart: the move is seen as the crash it is, never as a stall.
    config = chaos_config(
        tmp_path,
        "nodes",
        {"ascii": {"hang_at_step": 12}},
        epochs=6,
        policies={"stall_seconds": 300},
        resources={"trainer_num_cpus": 1},
    )
    del config["specialists"]["runic"]
    run_dir = tmp_path / "nodes"
    command = [*overnight_command(write_config(tmp_path, config))[:-1], cluster.address]
    with (tmp_path / "driver.log").open("w") as driver_log:
        driver = subprocess.Popen(command, cwd=REPO_ROOT, stdout=driver_log, stderr=subprocess.STDOUT)
        try:
            first_pid = hung_trainer_pid(run_dir, "ascii", 12)
            cluster.remove_node(node_of(first_pid, workers))
            _wait_for(lambda: _crash_decisions(run_dir), 180, "the lost trainer to come back on a live node")
            driver.wait(timeout=300)
        finally:
            if driver.poll() is None:
                driver.kill()
            cluster.shutdown()
    assert driver.returncode == 0, (tmp_path / "driver.log").read_text()[-3000:]
    assert states(run_dir) == {"foundation": "finished", "ascii": "finished"}
    second_pid = run_state(run_dir)["specialists"]["ascii"]["trainer_pid"]
    assert second_pid != first_pid
    [crash] = _crash_decisions(run_dir)
    assert crash["action"] == "restart_trainer" and str(first_pid) in crash["trigger"]["detail"]
    assert not [r for r in decisions(run_dir) if r["trigger"]["kind"] == "stall"]
    # The moved trainer resumed from the checkpoint of the epoch before the hang (6 steps an epoch).
    [resumed] = resumed_starts(run_dir, "ascii")
    assert resumed["step"] == 6 and resumed["resumed_from"].endswith("-s6")
