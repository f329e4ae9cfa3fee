"""The official `openai` client against `overnight serve` (the shared session cluster): completions and
chat, plain and streamed, its error classes; then Ray's Prometheus endpoint holds the serving metrics."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.serve_fixture import AUTH, KEY, Serving

pytest_plugins = ("tests.serving.router_fixture", "tests.serving.serve_fixture")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

INSTRUCTION = "Convert to LC-R: [1, 2]"  # runic; the loud adapter answers with long text
VERDICT = {"expert", "reason", "format", "valid", "canonical", "check_error", "adapter", "latency_ms"}


def _client(serving: Serving, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{serving.url}/v1", api_key=key, max_retries=0, timeout=120)


def _chat(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_completions_and_chat_answer_alike_with_the_verdict(serving: Serving) -> None:
    client = _client(serving)
    completion = client.completions.create(model="auto", prompt=INSTRUCTION, max_tokens=12)
    chat = client.chat.completions.create(model="auto", messages=_chat(INSTRUCTION), max_tokens=12)
    (choice,) = completion.choices
    (chat_choice,) = chat.choices
    assert (completion.object, chat.object) == ("text_completion", "chat.completion")
    assert completion.model == chat.model == "runic"
    assert chat_choice.message.role == "assistant"
    # The chat's one user message is the instruction, in the same template: the same greedy answer.
    assert choice.text and chat_choice.message.content == choice.text
    assert chat_choice.finish_reason == choice.finish_reason == "length"
    assert chat.usage is not None and chat.usage.completion_tokens == 12
    for extra in (choice.model_extra, chat_choice.model_extra):
        assert extra is not None and set(extra["overnight"]) == VERDICT
        assert extra["overnight"]["expert"] == "runic" and extra["overnight"]["format"] == "lc-r"


def test_streams_arrive_in_chunks_that_add_up_to_the_answer(serving: Serving) -> None:
    client = _client(serving)
    whole = client.completions.create(model="auto", prompt=INSTRUCTION, max_tokens=16).choices[0]
    chunks = list(client.completions.create(model="auto", prompt=INSTRUCTION, max_tokens=16, stream=True))
    assert {chunk.object for chunk in chunks} == {"text_completion"}
    assert "".join(chunk.choices[0].text for chunk in chunks) == whole.text
    assert [chunk.choices[0].finish_reason for chunk in chunks][-1] == "length"
    assert sum(1 for chunk in chunks if chunk.choices[0].text) >= 2  # tokens came as they were decoded
    final = chunks[-1].choices[0].model_extra
    assert (
        final is not None and final["overnight"]["expert"] == "runic" and set(final["overnight"]) == VERDICT
    )

    chat = list(
        client.chat.completions.create(model="auto", messages=_chat(INSTRUCTION), max_tokens=16, stream=True)
    )
    assert {chunk.object for chunk in chat} == {"chat.completion.chunk"}
    assert chat[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chat) == whole.text
    assert chat[-1].choices[0].finish_reason == "length" and chat[-1].choices[0].delta.content is None
    assert all(chunk.choices[0].finish_reason is None for chunk in chat[:-1])


def test_a_raw_stream_is_server_sent_events_ending_in_done(serving: Serving) -> None:
    body = {"messages": _chat(INSTRUCTION), "max_tokens": 6, "stream": True}
    with httpx.stream(
        "POST", f"{serving.url}/v1/chat/completions", headers=AUTH, json=body, timeout=120
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert len({event["id"] for event in events}) == 1 and events[0]["id"].startswith("chatcmpl-")
    assert events[-1]["choices"][0]["overnight"]["format"] == "lc-r"


def test_the_client_raises_its_own_error_classes(serving: Serving) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong_key:
        _client(serving, KEY + "x").completions.create(model="auto", prompt=INSTRUCTION)
    assert wrong_key.value.body == {
        "message": "wrong API key",
        "type": "authentication_error",
        "param": None,
        "code": "unauthorized",
    }
    client = _client(serving)
    with pytest.raises(openai.APIStatusError) as too_long:
        client.chat.completions.create(model="auto", messages=_chat("x" * 8001), stream=True)
    assert too_long.value.status_code == 413
    assert isinstance(too_long.value.body, dict) and too_long.value.body["param"] == "messages"
    with pytest.raises(openai.UnprocessableEntityError, match="role 'system'"):
        client.chat.completions.create(
            model="auto", messages=[{"role": "system", "content": "be brief"}, *_chat(INSTRUCTION)]
        )
    with pytest.raises(openai.NotFoundError, match="no expert 'gpt-4'"):
        client.completions.create(model="gpt-4", prompt=INSTRUCTION, stream=True)


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        value
        for tags, value in found.get(name, [])
        if all(tags.get(key) == wanted for key, wanted in labels.items())
    )


def test_rays_prometheus_endpoint_has_the_serving_metrics(serving: Serving) -> None:
    client = _client(serving)
    for _ in range(3):
        client.completions.create(model="auto", prompt=INSTRUCTION, max_tokens=4)
    bad = httpx.post(f"{serving.url}/v1/generate", headers=AUTH, json={"prompt": 5}, timeout=60)
    assert bad.status_code == 422
    deadline = time.monotonic() + 60  # Ray exports every few seconds, each metric on its own schedule
    while True:
        found = _scrape(serving.metrics_port)
        batches = _total(found, "ray_overnight_router_batch_size_count")
        settled = (
            _total(found, "ray_overnight_router_errors_total", status="422") >= 1
            and _total(found, "ray_overnight_router_requests_total", expert="runic") >= 3
            and batches >= 3
            and _total(found, "ray_overnight_router_batched_requests_total") >= 3
        )
        if settled:
            break
        overnight = {name: _total(found, name) for name in found if "overnight" in name}
        assert time.monotonic() < deadline, overnight
        time.sleep(2)
    # Decoded under the LC-R grammar (router.constrained_decoding, on by default), the answers parse.
    assert _total(found, "ray_overnight_router_answers_total", expert="runic", verdict="valid") >= 3
    assert _total(found, "ray_overnight_router_generated_tokens_total", expert="runic") >= 12
    assert _total(found, "ray_overnight_router_latency_seconds_count", expert="runic") >= 3
    # Cumulative buckets: every answer of a tiny model took under 30 s, so the last finite bucket holds
    # them all (summed over the series Ray keeps per process).
    buckets: dict[str, float] = {}
    for tags, value in found["ray_overnight_router_latency_seconds_bucket"]:
        if tags.get("expert") == "runic":
            buckets[tags["le"]] = buckets.get(tags["le"], 0.0) + value
    assert buckets["30.0"] == buckets["+Inf"] >= 3
    # The router never forms a batch over batch_max_size (32). (Ray's exported `_sum` is not the sum of
    # the sizes: Ray 2.60 sums bucket midpoints, so a batch of 1 adds 0.5 with these boundaries.)
    assert _total(found, "ray_overnight_router_batch_size_bucket", le="32.0") == batches
