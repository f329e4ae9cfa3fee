"""Losing the node that holds a trainer moves the trainer to a live node, where it resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.actors.test_chaos import (
    REPO,
    _crash_decisions,
    _finished,
    _step_of,
    _wait_for,
    chaos_config,
    run_state,
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

    # The head takes no trainer (0 CPUs); each worker node fits one trainer (1 CPU).
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)]
    cluster.wait_for_nodes()
    config = chaos_config(
        tmp_path, "nodes", {}, epochs=60, policies={"stall_seconds": 60}, resources={"trainer_num_cpus": 1}
    )
    del config["specialists"]["runic"]
    config_path = tmp_path / "nodes.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "nodes"
    with (tmp_path / "driver.log").open("w") as driver_log:
        driver = subprocess.Popen(
            [
                sys.executable,
                "overnight.py",
                "--config",
                str(config_path),
                "--quiet",
                "--address",
                cluster.address,
            ],
            cwd=REPO,
            stdout=driver_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(lambda: _step_of(run_dir, "ascii") >= 12, 240, "ascii to train on a worker node")
            first_pid = run_state(run_dir)["specialists"]["ascii"]["trainer_pid"]
            lost = node_of(first_pid, workers)
            cluster.remove_node(lost)
            _wait_for(lambda: _crash_decisions(run_dir), 180, "the lost trainer to come back on a live node")
            driver.wait(timeout=400)
        finally:
            if driver.poll() is None:
                driver.kill()
            cluster.shutdown()
    assert driver.returncode == 0, (tmp_path / "driver.log").read_text()[-3000:]
    assert _finished(run_dir, "ascii")
    state = run_state(run_dir)
    second_pid = state["specialists"]["ascii"]["trainer_pid"]
    assert second_pid != first_pid
    crash = _crash_decisions(run_dir)[0]
    assert crash["action"] == "restart_trainer" and str(first_pid) in crash["trigger"]["detail"]
    events = [json.loads(line) for line in (run_dir / "events" / "ascii.jsonl").read_text().splitlines()]
    resumed = [
        e for e in events if e["type"] == "phase" and e["status"] == "started" and e.get("resumed_from")
    ]
    assert resumed, "the moved trainer did not resume from a checkpoint"
