"""The router's HTTP front door over real HTTP on 127.0.0.1 (uvicorn): keys, answers, errors, reloads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from actors.serve_app import ApiKey, LocalRouterClient, build_app
from hlx.checker import check
from serving.openai_api import OPENAI_PATHS
from serving.router import Router, RouterSettings
from tests.serving.router_fixture import AUTH, GOOD, KEY, LOUD, LiveServer, error_of

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)


@pytest.fixture
def served(private_run: TrainedRun) -> Iterator[tuple[TrainedRun, Router, httpx.Client]]:
    private_run.promote(LOUD)
    router = Router(private_run.run_dir, RouterSettings(default_max_new_tokens=8, max_new_tokens_limit=32))
    server = LiveServer(build_app(LocalRouterClient(router), api_key=KEY))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield private_run, router, client
    server.stop()
    router.close()


def test_health_needs_no_key_and_everything_else_does(
    served: tuple[TrainedRun, Router, httpx.Client],
) -> None:
    _, _, client = served
    assert (client.get("/health").status_code, client.get("/health").json()) == (200, {"status": "ok"})
    calls = [
        ("GET", "/models"),
        ("GET", "/v1/models"),
        ("GET", "/stats"),
        ("POST", "/models/reload"),
        ("POST", "/v1/generate"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/docs"),
        ("GET", "/no/such/path"),
    ]
    headers_and_reasons = [
        ({}, "missing 'Authorization: Bearer <key>' header"),
        ({"Authorization": "Bearer wrong-key"}, "wrong API key"),
        ({"Authorization": f"Bearer {KEY}x"}, "wrong API key"),
        ({"Authorization": f"Basic {KEY}"}, "the Authorization header must read 'Bearer <key>'"),
        ({"Authorization": "Bearer"}, "the Authorization header must read 'Bearer <key>'"),
    ]
    for method, path in calls:
        for headers, reason in headers_and_reasons:
            response = client.request(method, path, headers=headers, json=GOOD)
            assert response.status_code == 401, (method, path, headers)
            if path in OPENAI_PATHS:  # the OpenAI error shape, which the openai client reads
                expected = {
                    "message": reason,
                    "type": "authentication_error",
                    "param": None,
                    "code": "unauthorized",
                }
            else:
                expected = {"type": "unauthorized", "message": reason, "field": None}
            assert error_of(response) == expected
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (
        client.post("/v1/generate", headers={"authorization": f"bearer {KEY}"}, json=GOOD).status_code == 200
    )


def test_generate_answers_with_the_expert_and_the_verdict(
    served: tuple[TrainedRun, Router, httpx.Client],
) -> None:
    run, _, client = served
    response = client.post("/v1/generate", headers=AUTH, json=GOOD)
    assert response.status_code == 200
    answer = response.json()
    assert {"expert", "reason", "text", "valid", "canonical", "latency_ms", "format"} <= set(answer)
    assert (answer["expert"], answer["format"], answer["reason"]) == (
        "ascii",
        "hlxl",
        "names HLXL (ASCII track)",
    )
    assert answer["checkpoint"] == str(run.adapters["ascii"]["loud1"].parent)
    # Decoded under the HLXL grammar (router.constrained_decoding, on by default): it parses.
    assert answer["completion_tokens"] <= 8 and answer["valid"] is True
    assert answer["canonical"] == check(answer["text"], answer["text"], "hlxl").canonical
    forced = client.post("/v1/generate", headers=AUTH, json={**GOOD, "expert": "coordinator"}).json()
    assert forced["expert"] == "coordinator" and forced["adapter"] is None


def test_completions_speak_openai(served: tuple[TrainedRun, Router, httpx.Client]) -> None:
    _, _, client = served
    body = {"model": "auto", "prompt": "Convert to LC-R: [1, 2]", "max_tokens": 6, "temperature": 0.7}
    completion = client.post("/v1/completions", headers=AUTH, json=body).json()
    assert completion["object"] == "text_completion" and completion["id"].startswith("cmpl-")
    assert isinstance(completion["created"], int) and completion["model"] == "runic"
    (choice,) = completion["choices"]
    assert (choice["index"], choice["finish_reason"]) == (0, "length")
    assert choice["overnight"]["expert"] == "runic" and choice["overnight"]["format"] == "lc-r"
    usage = completion["usage"]
    assert usage["completion_tokens"] == 6
    assert usage["total_tokens"] == usage["prompt_tokens"] + 6
    several = client.post(
        "/v1/completions", headers=AUTH, json={"prompt": ["Convert to LC-R: 1", "Convert to HLXL: 1"]}
    ).json()
    assert [c["index"] for c in several["choices"]] == [0, 1] and several["model"] == "auto"
    chosen = client.post("/v1/completions", headers=AUTH, json={**body, "model": "coordinator"}).json()
    assert chosen["model"] == "coordinator"
    unknown = client.post("/v1/completions", headers=AUTH, json={**body, "model": "gpt-4"})
    assert unknown.status_code == 404
    assert error_of(unknown)["param"] == "model" and "no expert 'gpt-4'" in error_of(unknown)["message"]
    assert error_of(unknown)["type"] == "not_found_error" and error_of(unknown)["code"] == "not_found"


def test_models_list_experts_adapters_and_checkpoints(
    served: tuple[TrainedRun, Router, httpx.Client],
) -> None:
    run, _, client = served
    listing = client.get("/models", headers=AUTH).json()
    by_name = {expert["name"]: expert for expert in listing["experts"]}
    assert sorted(by_name) == ["ascii", "coordinator", "runic"]
    assert by_name["runic"]["checkpoint"] == str(run.adapters["runic"]["loud1"].parent)
    assert listing["routes"] == {"ascii": "ascii", "runic": "runic", "general": "coordinator"}
    openai = client.get("/v1/models", headers=AUTH).json()
    assert [m["id"] for m in openai["data"]] == ["auto", "coordinator", "ascii", "runic"]


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "message"),
    [
        ("/v1/generate", b'{"prompt": "Convert to', 422, "body", "body: JSON decode error"),
        ("/v1/generate", {"max_new_tokens": 4}, 422, "prompt", "prompt: Field required"),
        ("/v1/generate", {"prompt": 5}, 422, "prompt", "prompt: Input should be a valid string"),
        ("/v1/generate", {**GOOD, "temperature": 1}, 422, "temperature", "temperature: Extra inputs"),
        ("/v1/generate", {**GOOD, "max_new_tokens": "many"}, 422, "max_new_tokens", "max_new_tokens: Input"),
        # Strict integers: no coercion of a boolean, a numeric string or a float.
        ("/v1/generate", {**GOOD, "max_new_tokens": True}, 422, "max_new_tokens", "max_new_tokens: Input"),
        ("/v1/generate", {**GOOD, "max_new_tokens": "10"}, 422, "max_new_tokens", "max_new_tokens: Input"),
        ("/v1/generate", {**GOOD, "max_new_tokens": 10.0}, 422, "max_new_tokens", "max_new_tokens: Input"),
        ("/v1/completions", {"prompt": "x", "max_tokens": True}, 422, "max_tokens", "max_tokens: Input"),
        ("/v1/completions", {"prompt": "x", "max_tokens": "10"}, 422, "max_tokens", "max_tokens: Input"),
        # Unparsable bodies: the documented 422 on field `body`, never FastAPI's 400.
        ("/v1/generate", b'{"prompt": "\xff"}', 422, "body", "body: the body is not valid UTF-8 (byte 12"),
        ("/v1/generate", b"[" * 100_000, 422, "body", "body: JSON decode error: the body nests"),
        (
            "/v1/generate",
            b'{"prompt": "x", "max_new_tokens": ' + b"9" * 5000 + b"}",
            422,
            "body",
            "body: JSON decode error: Exceeds the limit",
        ),
        ("/v1/generate", {**GOOD, "expert": "nobody"}, 404, "expert", "no expert 'nobody'; choose one of"),
        (
            "/v1/generate",
            {"prompt": "Convert to LC-R: \ud800"},
            422,
            "prompt",
            "prompt holds a lone surrogate U+D800 at character 17",
        ),
        (
            "/v1/generate",
            {**GOOD, "max_new_tokens": 0},
            422,
            "max_new_tokens",
            "max_new_tokens=0 must be in 1..32",
        ),
        (
            "/v1/generate",
            {**GOOD, "max_new_tokens": 33},
            422,
            "max_new_tokens",
            "max_new_tokens=33 must be in",
        ),
        (
            "/v1/generate",
            {"prompt": "x" * 8001},
            413,
            "prompt",
            "prompt is 8001 characters; this server accepts",
        ),
        ("/v1/generate", {"prompt": "  "}, 422, "prompt", "prompt must be a non-empty string"),
        (
            "/v1/completions",
            {"prompt": "x", "max_tokens": -1},
            422,
            "max_tokens",
            "max_tokens=-1 must be in 1..32",
        ),
        ("/v1/completions", {"prompt": ["x" * 9000]}, 413, "prompt", "prompt is 9000 characters"),
        ("/v1/completions", {"prompt": []}, 422, "prompt", "prompt must hold 1..32 strings"),
        (
            "/models/reload",
            {"specialist": 3},
            422,
            "specialist",
            "specialist: Input should be a valid string",
        ),
        (
            "/models/reload",
            {"specialist": "nobody"},
            404,
            "specialist",
            "no specialist 'nobody' in promoted.json",
        ),
    ],
)
def test_bad_requests_get_their_status_and_field(
    served: tuple[TrainedRun, Router, httpx.Client],
    path: str,
    body: Any,
    status: int,
    field: str,
    message: str,
) -> None:
    _, router, client = served
    if isinstance(body, bytes):
        response = client.post(path, headers={**AUTH, "Content-Type": "application/json"}, content=body)
    else:
        # Sent as JSON text written here (json.dumps would refuse a lone surrogate in `prompt`).
        content = json.dumps(body, ensure_ascii=True).encode("ascii")
        response = client.post(path, headers={**AUTH, "Content-Type": "application/json"}, content=content)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert (error["param"] if path in OPENAI_PATHS else error["field"]) == field
    assert error_of(response)["message"].startswith(message) or message in error_of(response)["message"]
    # The router took no harm: it still answers.
    assert client.post("/v1/generate", headers=AUTH, json=GOOD).status_code == 200
    assert router.health()["status"] == "ok"


def test_a_reload_that_cannot_load_keeps_serving_and_says_so(
    served: tuple[TrainedRun, Router, httpx.Client],
) -> None:
    run, _, client = served
    promotion = run.promotion(LOUD)
    promotion["specialists"]["ascii"]["path"] = str(run.run_dir / "gone")
    run.promoted_path.write_text(json.dumps(promotion))
    response = client.post("/models/reload", headers=AUTH)
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["message"] == "could not load ascii; the previous versions keep serving"
    assert "gone: the adapter directory of 'ascii' does not exist" in body["report"]["failed"]["ascii"]
    assert client.post("/v1/generate", headers=AUTH, json=GOOD).json()["checkpoint"].endswith("loud/ascii/v1")


def test_a_reload_under_concurrent_load_fails_no_request(
    served: tuple[TrainedRun, Router, httpx.Client],
) -> None:
    run, router, client = served
    expected = {}
    for label in ("loud1", "loud2"):
        run.promote({"ascii": label, "runic": label})
        assert client.post("/models/reload", headers=AUTH).status_code == 200
        expected[str(run.adapters["ascii"][label].parent)] = client.post(
            "/v1/generate", headers=AUTH, json=GOOD
        ).json()["text"]
    assert len(set(expected.values())) == 2
    stop = threading.Event()

    def load() -> list[tuple[int, dict[str, Any]]]:
        seen = []
        while not stop.is_set():
            response = client.post("/v1/generate", headers=AUTH, json=GOOD)
            seen.append((response.status_code, response.json()))
            bad = client.post("/v1/generate", headers=AUTH, json={**GOOD, "max_new_tokens": 0})
            seen.append((bad.status_code, {}))
        return seen

    with ThreadPoolExecutor(max_workers=4) as pool:
        workers = [pool.submit(load) for _ in range(4)]
        reloads = []
        for label in ("loud1", "loud2", "loud1"):
            time.sleep(0.15)
            run.promote({"ascii": label, "runic": label})
            reloads.append(client.post("/models/reload", headers=AUTH).json())
        time.sleep(0.15)
        stop.set()
        seen = [item for worker in workers for item in worker.result()]
    assert [r["swapped"] for r in reloads] == [["ascii", "runic"]] * 3
    good = [body for status, body in seen if body]
    assert len(good) >= 8 and all(status in (200, 422) for status, _ in seen)
    assert [status for status, body in seen if body] == [200] * len(good)
    assert {body["checkpoint"] for body in good} == set(expected)
    for body in good:
        assert body["text"] == expected[body["checkpoint"]]
    assert router.models()["retired"] == [] and len(router.models()["parameters"]["adapters"]) == 2


def test_the_app_refuses_to_run_without_a_key_unless_insecure(trained_run: TrainedRun) -> None:
    router = Router(trained_run.run_dir, RouterSettings(default_max_new_tokens=4))
    try:
        with pytest.raises(ValueError, match="no API key: set OVERNIGHT_API_KEY, or pass insecure=True"):
            build_app(LocalRouterClient(router))
        server = LiveServer(build_app(LocalRouterClient(router), insecure=True))
        try:
            response = httpx.post(
                f"{server.url}/v1/generate", json={"prompt": "Convert to LC-T: 1"}, timeout=60
            )
            assert response.status_code == 200 and response.json()["expert"] == "ascii"
        finally:
            server.stop()
        digest_app = build_app(LocalRouterClient(router), api_key_sha256=ApiKey.hash(KEY))
        assert digest_app is not None
    finally:
        router.close()


def test_a_stopped_router_is_reported_not_crashed(served: tuple[TrainedRun, Router, httpx.Client]) -> None:
    _, router, client = served
    router.close()
    health = client.get("/health")
    assert (health.status_code, health.json()) == (503, {"status": "stopped"})
    refused = client.post("/v1/generate", headers=AUTH, json=GOOD)
    assert refused.status_code == 503
    assert error_of(refused) == {
        "type": "router_unavailable",
        "message": "the router is closed; start a new one",
        "field": None,
    }
