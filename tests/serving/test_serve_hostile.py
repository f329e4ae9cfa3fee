"""Hostile and careless clients against the HTTP app on real uvicorn (127.0.0.1): one request's bad input
never changes another's answer, bodies are bounded, errors tell nothing internal and logs hold no key."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx
import pytest

from actors.serve_app import ActorRouterClient, LocalRouterClient, build_app
from serving.limits import HttpLimits, http_limits
from serving.router import Router, RouterSettings
from tests.serving.router_fixture import LiveServer, copy_run

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)

KEY = "hostile-key-" + "7f3a9c2e5b"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY_TIMEOUT_S = 1.0
PROMPTS = ["Convert to HLXL: [1, 2]", "Convert to LC-R: [3]", "Convert to HLXL: {C:14,0=42}"]


@pytest.fixture(scope="module")
def router(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    run = copy_run(trained_run, tmp_path_factory.mktemp("hostile"))
    run.promote({"ascii": "loud1", "runic": "loud1"})  # loud adapters answer with text to compare
    # A long batch window: requests sent together are answered in one batch.
    served = Router(run.run_dir, RouterSettings(default_max_new_tokens=8, batch_wait_ms=300))
    yield served
    served.close()


@pytest.fixture(scope="module")
def server(router: Router) -> Iterator[LiveServer]:
    limits = http_limits(router.limits(), body_timeout_s=BODY_TIMEOUT_S)
    live = LiveServer(build_app(LocalRouterClient(router), api_key=KEY, limits=limits))
    yield live
    live.stop()


def post(url: str, body: bytes) -> httpx.Response:
    headers = {**AUTH, "Content-Type": "application/json"}
    return httpx.post(f"{url}/v1/generate", headers=headers, content=body, timeout=60)


def test_a_lone_surrogate_fails_alone_in_its_batch(server: LiveServer, router: Router) -> None:
    bodies = [json.dumps({"prompt": p}).encode() for p in PROMPTS]
    bodies.insert(1, b'{"prompt": "Convert to LC-R: \\ud800"}')
    before = router.stats()["batches"]
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(lambda body: post(server.url, body), bodies))
    assert responses[1].status_code == 422
    assert responses[1].json()["error"]["field"] == "prompt"
    assert "lone surrogate U+D800" in responses[1].json()["error"]["message"]
    good = [responses[0], *responses[2:]]
    assert [r.status_code for r in good] == [200, 200, 200]
    assert router.stats()["batches"] - before < len(PROMPTS)  # they really shared a batch
    alone = [post(server.url, json.dumps({"prompt": p}).encode()).json()["text"] for p in PROMPTS]
    assert [r.json()["text"] for r in good] == alone


def test_a_500_is_generic_names_its_request_id_and_logs_no_key(
    router: Router, capfd: pytest.CaptureFixture[str]
) -> None:
    class Broken(LocalRouterClient):
        async def generate(self, prompt: str, max_new_tokens: int | None, expert: str | None) -> Any:
            raise RuntimeError("Actor(ab12cd) pid=4242 ip=10.1.2.3 died")

    live = LiveServer(build_app(Broken(router), api_key=KEY))
    marker = "SECRET-TAIL-OF-THE-PROMPT"
    try:
        response = httpx.post(
            f"{live.url}/v1/generate",
            headers=AUTH,
            json={"prompt": "Convert " + "x" * 100 + marker},
            timeout=60,
        )
    finally:
        live.stop()
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    error = response.json()["error"]
    assert error == {
        "type": "internal",
        "message": f"internal error; the server log has the details under request id {request_id}",
        "field": None,
    }
    assert response.json()["request_id"] == request_id
    logs = "".join(capfd.readouterr())
    assert request_id in logs and "RuntimeError" in logs  # the log tells the operator what happened
    assert KEY not in logs and "Bearer" not in logs
    assert "Convert xxxx" in logs and marker not in logs  # the prompt is logged clipped


def test_a_body_over_the_cap_is_refused_before_it_is_read(server: LiveServer) -> None:
    # 100 MB announced, 1 KB sent: the answer comes without waiting for the rest.
    with raw_connection(server.url) as conn:
        conn.sendall(request_head("/v1/generate", {"Content-Length": str(100_000_000)}) + b"x" * 1024)
        status, body = read_response(conn, timeout=10)
    assert status == 413 and json.loads(body)["error"]["field"] == "body"
    # Chunked, so no Content-Length to judge by: refused once the chunks pass the cap, mid-body.
    cap = http_limits({"max_prompt_chars": 8000, "batch_max_size": 32}).max_body_bytes
    chunk = b"y" * 65536
    with raw_connection(server.url) as conn:
        conn.sendall(request_head("/v1/generate", {"Transfer-Encoding": "chunked"}))
        for _ in range(cap // len(chunk) + 2):
            conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, body = read_response(conn, timeout=10)
    assert status == 413 and "more than any valid request needs" in json.loads(body)["error"]["message"]


def test_clients_that_never_finish_their_body_block_nobody(server: LiveServer) -> None:
    stalled = [raw_connection(server.url) for _ in range(8)]
    for conn in stalled:
        conn.sendall(request_head("/v1/generate", {"Content-Length": "100"}) + b'{"prompt": ')
    started = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200
    assert post(server.url, json.dumps({"prompt": PROMPTS[0]}).encode()).status_code == 200
    for conn in stalled:
        status, body = read_response(conn, timeout=10)
        assert status == 408 and json.loads(body)["error"] == {
            "type": "body_timeout",
            "message": f"the body did not arrive within {BODY_TIMEOUT_S:g} s",
            "field": "body",
        }
        conn.close()
    assert time.monotonic() - started < 10


def test_a_body_that_is_not_json_says_how_to_send_it(server: LiveServer) -> None:
    # curl -d without -H "Content-Type: application/json" sends a form.
    form = httpx.post(f"{server.url}/v1/generate", headers=AUTH, data={"prompt": "x"}, timeout=30)
    assert form.status_code == 422
    assert form.json()["error"] == {
        "type": "invalid_request",
        "message": "body: send JSON with 'Content-Type: application/json' (this request says "
        "'application/x-www-form-urlencoded')",
        "field": "body",
    }


def test_a_router_that_is_down_gets_503_with_retry_after(router: Router) -> None:
    def lookup() -> Any:
        raise ValueError("Failed to look up actor with name 'router'")

    live = LiveServer(build_app(ActorRouterClient(lookup, router.limits()), api_key=KEY))
    try:
        response = httpx.post(
            f"{live.url}/v1/generate", headers=AUTH, json={"prompt": PROMPTS[0]}, timeout=30
        )
        health = httpx.get(f"{live.url}/health", timeout=30)
    finally:
        live.stop()
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
    assert response.json()["error"] == {
        "type": "router_unavailable",
        "message": "the router is down and being restarted; retry shortly",
        "field": None,
    }
    assert (health.status_code, health.json()) == (503, {"status": "unavailable"})


def test_the_limits_used_by_the_app_are_checked() -> None:
    assert HttpLimits(max_body_bytes=1, body_timeout_s=0.5).retry_after_s == 5


# ------------------------------------------------------------------------------------ raw HTTP


def raw_connection(url: str) -> socket.socket:
    parsed = urlparse(url)
    return socket.create_connection((parsed.hostname, parsed.port), timeout=30)


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {KEY}"]
    lines += ["Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(conn: socket.socket, timeout: float) -> tuple[int, bytes]:
    """(status, body) of one response with a Content-Length; socket.timeout when none comes in time."""
    conn.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        assert piece, f"connection closed before a response: {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return int(head.split(b" ", 2)[1]), body
