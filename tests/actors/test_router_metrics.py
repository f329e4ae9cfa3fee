"""The serving metrics an in-process router and its HTTP app record (Ray exports them; see
test_serve_openai for the scrape), and the in-process streaming path with the `openai` client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx
import openai

from actors.serve_app import LocalRouterClient, build_app
from report.metric_samples import Sample
from serving.router import Router, RouterSettings
from tests.serving.router_fixture import LiveServer

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)

KEY = "metrics-key-0123"
PROMPT = "Convert to LC-R: [1, 2]"


class Samples:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.kept: list[Sample] = []

    def record(self, samples: Iterable[Sample]) -> None:
        self.kept.extend(samples)

    def named(self, name: str) -> list[Sample]:
        return [sample for sample in self.kept if sample.name == name]


def test_answers_batches_reloads_and_http_errors_are_recorded(private_run: TrainedRun) -> None:
    private_run.promote({"ascii": "loud1", "runic": "loud1"})
    routed, served = Samples(), Samples()
    router = Router(
        private_run.run_dir, RouterSettings(default_max_new_tokens=8, max_new_tokens_limit=32), metrics=routed
    )
    server = LiveServer(build_app(LocalRouterClient(router), api_key=KEY, metrics=served))
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=120)
        whole = client.completions.create(model="auto", prompt=PROMPT, max_tokens=6).choices[0].text
        streamed = list(client.completions.create(model="auto", prompt=PROMPT, max_tokens=6, stream=True))
        assert "".join(chunk.choices[0].text for chunk in streamed) == whole
        assert (
            httpx.post(
                f"{server.url}/v1/generate", headers={"Authorization": f"Bearer {KEY}"}, json={}
            ).status_code
            == 422
        )
        assert httpx.get(f"{server.url}/models").status_code == 401
        private_run.promote({"ascii": "loud2", "runic": "loud1"})
        router.reload()
    finally:
        server.stop()
        router.close()
    assert [s.tags for s in routed.named("overnight_router_requests")] == [{"expert": "runic"}] * 2
    # Decoded under the LC-R grammar (router.constrained_decoding, on by default), both answers parse.
    assert [s.tags["verdict"] for s in routed.named("overnight_router_answers")] == ["valid"] * 2
    assert [s.value for s in routed.named("overnight_router_generated_tokens")] == [6.0, 6.0]
    assert all(0 < s.value < 120 for s in routed.named("overnight_router_latency_seconds"))
    assert [s.value for s in routed.named("overnight_router_batch_size")] == [1.0, 1.0]
    assert [s.tags for s in routed.named("overnight_router_reloads")] == [
        {"expert": "ascii", "outcome": "ok"}
    ]
    assert [s.tags for s in served.named("overnight_router_errors")] == [
        {"expert": "none", "status": "422"},
        {"expert": "none", "status": "401"},
    ]
    assert served.named("overnight_router_latency_seconds") == []  # answers are the router's to count
