"""`overnight serve` as a user runs it (its own local Ray cluster, Ray Serve on 127.0.0.1), under load and
attack: batches fill, stalled clients block nobody, a killed router comes back, and the key is nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil
import pytest

from tests.serving.serve_fixture import AUTH, GOOD, KEY, Serving
from tests.serving.test_serve_hostile import raw_connection, read_response

pytest_plugins = ("tests.serving.router_fixture", "tests.serving.serve_fixture")
pytestmark = [pytest.mark.ray, pytest.mark.slow]
KILL_ROUTER = (
    "import sys, ray; ray.init(address=sys.argv[1], log_to_driver=False); "
    "ray.kill(ray.get_actor('router', namespace='overnight'), no_restart=True)"
)


def _router_stats(serving: Serving) -> dict[str, Any]:
    return httpx.get(f"{serving.url}/stats", headers=AUTH, timeout=60).json()


def test_concurrent_requests_fill_the_routers_batches(serving: Serving) -> None:
    def ask(_: int) -> int:
        return httpx.post(f"{serving.url}/v1/generate", headers=AUTH, json=GOOD, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(3):
            assert list(pool.map(ask, range(16))) == [200] * 16
    # Ray Serve's default (5 requests per replica) capped every batch at 5.
    assert _router_stats(serving)["max_batch_size"] >= 8


def test_stalled_bodies_and_huge_bodies_block_nobody(serving: Serving) -> None:
    stalled = [raw_connection(serving.url) for _ in range(8)]
    head = "POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n"
    for conn in stalled:
        conn.sendall(
            (head.format(KEY) + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
        )
        conn.sendall(b'{"prompt": ')
    assert httpx.get(f"{serving.url}/health", timeout=20).status_code == 200
    assert httpx.post(f"{serving.url}/v1/generate", headers=AUTH, json=GOOD, timeout=60).status_code == 200
    for conn in stalled:
        status, body = read_response(conn, timeout=30)
        assert (status, json.loads(body)["error"]["type"]) == (408, "body_timeout")
        conn.close()
    with raw_connection(serving.url) as conn:
        conn.sendall((head.format(KEY) + "Content-Length: 100000000\r\n\r\n").encode() + b"x" * 1024)
        status, _ = read_response(conn, timeout=30)
    assert status == 413


def test_a_killed_router_is_recreated_and_meanwhile_answers_503(serving: Serving) -> None:
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=serving.url, headers=AUTH, timeout=120) as client:
            while not stop.is_set():
                response = client.post("/v1/generate", json=GOOD)
                seen.append((response.status_code, response.headers.get("Retry-After")))
                time.sleep(0.05)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(1)
    # From another driver, as an operator would (the cluster wants Ray's token, read when ray is imported).
    subprocess.run(
        [sys.executable, "-c", KILL_ROUTER, serving.gcs_address],
        env={**os.environ, "RAY_AUTH_MODE": "token"},
        check=True,
        timeout=300,
        capture_output=True,
    )
    deadline = time.monotonic() + 300
    killed_at = len(seen)
    while not any(status == 200 for status, _ in seen[killed_at + 4 :]):
        assert time.monotonic() < deadline, f"no answer since the router was killed: {seen[-10:]}"
        time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join()
    assert {status for status, _ in seen} <= {200, 503}, seen
    assert all(retry == "5" for status, retry in seen if status == 503)
    assert serving.process.poll() is None
    assert "the router actor was gone; started a new one" in (serving.output / "serve.out").read_text()


def test_the_key_is_in_no_log_and_no_other_process(serving: Serving) -> None:
    # Error paths first: wrong keys, a key in the wrong place, a bad body.
    for headers in ({"Authorization": f"Bearer {KEY}x"}, {"Authorization": f"Basic {KEY}"}, {"X-Key": KEY}):
        assert (
            httpx.post(f"{serving.url}/v1/generate", headers=headers, json=GOOD, timeout=30).status_code
            == 401
        )
    bad = httpx.post(f"{serving.url}/v1/generate", headers=AUTH, content=b"\xff", timeout=30)
    assert bad.status_code == 422
    time.sleep(2)  # Ray flushes worker logs to files on its own schedule
    needle = KEY.encode()
    hits = [
        str(path)
        for root in (serving.ray_root, serving.output)
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]
    assert hits == []
    logs = list((serving.ray_root / "ray").glob("session_*/logs/*"))
    assert len(logs) > 10  # the search really covered the cluster's logs
    leaked = []
    for child in psutil.Process(serving.process.pid).children(recursive=True):
        try:
            if any(KEY in value for value in child.environ().values()):
                leaked.append(" ".join(child.cmdline())[:120])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert leaked == []
    assert len(psutil.Process(serving.process.pid).children(recursive=True)) >= 3  # gcs, raylet, workers
