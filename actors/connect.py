"""Reaching a Ray cluster: the run's recorded address, token auth, connecting or starting one, metrics URLs.

Ray is imported inside the functions: the token setting must be in the environment before Ray's first
import reads it, and the CLIs that call these start without paying for Ray.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from actors.names import NAMESPACE
from control.run_files import RAY_ADDRESS_FILE
from fileio.atomic import write_text_atomic


def use_token_auth_if_configured() -> None:
    """Ray 2.60 clusters started with `ray start --head` require a token; an explicit address does not find
    it by itself, so point Ray at the token file when there is one (an explicit setting wins)."""
    if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def recorded_address(run_dir: Path) -> str | None:
    """The address of the cluster that ran `run_dir` (its `ray_address` file), when that cluster still
    answers; tools use it so that, with several clusters on one machine, they reach the run's own."""
    path = run_dir / RAY_ADDRESS_FILE
    if not path.is_file():
        return None
    address = path.read_text(encoding="utf-8").strip()
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return address
    except (OSError, ValueError):
        return None


def record_address(run_dir: Path) -> None:
    """Write the connected cluster's address into the run directory: tools (and the chaos tests) attach to
    exactly this cluster, not to whichever one `auto` finds first."""
    import ray

    write_text_atomic(run_dir / RAY_ADDRESS_FILE, ray.get_runtime_context().gcs_address + "\n")


def init_ray(**kwargs: Any) -> None:
    """ray.init, keeping this process's SIGTERM handler. Ray's init replaces it with sys.exit, and its core
    worker with a stack printer, so `kill` or `ray job stop` would end `overnight run` or `serve` wherever
    it was instead of through the command's interrupt path (overnight.run_command)."""
    import ray

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    try:
        ray.init(**kwargs)
    finally:
        if previous is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGTERM, previous)


def connect_ray(address: str | None) -> bool:
    """Connect to a running cluster, or start a local one; True when this process owns the cluster."""
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": True, "configure_logging": False}
    if address == "local":
        init_ray(address="local", **kwargs)
        return True
    if address:
        init_ray(address=address, **kwargs)
        return False
    try:
        init_ray(address="auto", **kwargs)
        return False
    except (ConnectionError, RuntimeError):
        init_ray(**kwargs)
        return True


def ray_cluster_visible() -> bool:
    """RAY_ADDRESS is set, or this machine runs a Ray head (its gcs_server): only then is connecting worth
    it. A stale /tmp/ray session file alone would make `ray.init(address="auto")` wait for nothing."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    import psutil

    return any(process.info["name"] == "gcs_server" for process in psutil.process_iter(["name"]))


def connect_existing_ray(address: str | None = None) -> bool:
    """Connect to an already running cluster (the one at `address` when given), never starting one; False
    when there is none to connect to."""
    if address is None and not ray_cluster_visible():
        return False
    if address is not None:
        use_token_auth_if_configured()  # before ray is imported: it reads the setting at import
    import ray

    if ray.is_initialized():
        return True
    try:
        init_ray(address=address or "auto", namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError):
        return False
    return True


def metrics_endpoints() -> list[str]:
    """Where Ray exports this cluster's metrics: one Prometheus endpoint per live node."""
    import ray

    return [
        f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
        for node in ray.nodes()
        if node.get("Alive") and node.get("MetricsExportPort")
    ]
