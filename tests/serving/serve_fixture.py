"""`overnight serve` as a user runs it, shared by the modules that test it: one local Ray cluster per
pytest session (started by `overnight serve --address local`, Ray Serve on 127.0.0.1), so adding a test of
the served API adds no cluster start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest

from tests.serving.router_fixture import RUN_NAME, copy_run

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

REPO = Path(__file__).resolve().parents[2]
KEY = "e2e-serve-key-" + "c0ffee4242"  # built so that no source line holds the whole key
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = {"prompt": "Convert to HLXL: {C:14,0=42}", "max_new_tokens": 8}
BODY_TIMEOUT_S = 2


@dataclass
class Serving:
    url: str
    process: subprocess.Popen[bytes]
    ray_root: Path
    output: Path
    gcs_address: str = ""
    metrics_port: int = 0  # Ray's Prometheus endpoint on this node (serving metrics are scraped there)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_health(serving: Serving, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert serving.process.poll() is None, (serving.output / "serve.err").read_text(errors="replace")[
            -4000:
        ]
        try:
            if httpx.get(f"{serving.url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(1)
    raise AssertionError(f"overnight serve did not answer /health in {timeout_s} s")


def _gcs_address(serve_pid: int, ray_root: Path) -> str:
    """host:port of the GCS that `overnight serve` started: its node address from the gcs_server's command
    line, its port from the file the GCS writes into its session directory (it picks a free one)."""
    gcs = next(c for c in psutil.Process(serve_pid).children(recursive=True) if c.name() == "gcs_server")
    args = dict(arg.split("=", 1) for arg in gcs.cmdline()[1:] if arg.startswith("--") and "=" in arg)
    (port_file,) = Path(args["--session-dir"]).glob("gcs_server_port_*")
    return f"{args['--node-ip-address']}:{port_file.read_text().strip()}"


def _metrics_port(serve_pid: int) -> int:
    """The port Ray exports this node's metrics on (Prometheus text): Ray picks a free one when ray.init
    starts the cluster, as `overnight serve --address local` does, and writes it into the session
    directory named on the GCS's command line."""
    gcs = next(c for c in psutil.Process(serve_pid).children(recursive=True) if c.name() == "gcs_server")
    args = dict(arg.split("=", 1) for arg in gcs.cmdline()[1:] if arg.startswith("--") and "=" in arg)
    (port_file,) = Path(args["--session-dir"]).glob("metrics_export_port_*")
    return int(port_file.read_text().strip())


@pytest.fixture(scope="session")
def serving(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    run = copy_run(trained_run, tmp_path_factory.mktemp("serve_e2e"))
    run.promote({"ascii": "loud1", "runic": "loud1"})
    # A short private Ray root: this cluster's logs are all under it, and no other cluster is joined.
    ray_root = Path(tempfile.mkdtemp(prefix="ovs", dir="/tmp"))
    output = tmp_path_factory.mktemp("serve_output")
    env = {**os.environ, "OVERNIGHT_API_KEY": KEY, "RAY_TMPDIR": str(ray_root)}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    command = [
        sys.executable,
        "overnight.py",
        "serve",
        "--output-dir",
        str(run.output_dir),
        "--run",
        RUN_NAME,
    ]
    command += ["--port", str(port), "--address", "local", "--body-timeout", str(BODY_TIMEOUT_S)]
    with open(output / "serve.out", "wb") as out, open(output / "serve.err", "wb") as err:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err)
    serving = Serving(f"http://127.0.0.1:{port}", process, ray_root, output)
    try:
        _wait_for_health(serving)
        serving.gcs_address = _gcs_address(process.pid, ray_root)
        serving.metrics_port = _metrics_port(process.pid)
        yield serving
    finally:
        process.send_signal(signal.SIGTERM)  # as Ctrl-C, and it also works when pytest runs in the background
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(ray_root, ignore_errors=True)
