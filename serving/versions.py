"""The router's bookkeeping: one loaded version of an expert, and one queued request on it."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from serving.answers import verdict_fields
from serving.route_rules import Route
from serving.routing import ExpertSpec
from serving.streaming import DeltaSink


@dataclass
class Serving:
    """One loaded version of an expert; retired once a reload replaces it, dropped when idle."""

    spec: ExpertSpec
    adapter: str | None
    model: Any | None = None  # its own model, only for a full-weights specialist
    in_flight: int = 0
    retired: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "track": self.spec.track,
            "kind": self.spec.method,
            "adapter": self.adapter,
            "checkpoint": self.spec.checkpoint,
            "path": str(self.spec.path),
            "exact_match": self.spec.exact_match,
            "in_flight": self.in_flight,
        }


@dataclass
class Pending:
    """A queued request: its route, the expert version it holds, its answer budget and its future."""

    prompt: str
    route: Route
    reason: str
    serving: Serving
    max_new_tokens: int
    started: float
    on_delta: DeltaSink | None = None  # gets the answer's text as it is decoded (a streamed request)
    future: Future[dict[str, Any]] = field(default_factory=Future)

    def answer(self, text: str, finish: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """The answer dict (see `Router.generate`), its latency counted from the request's arrival."""
        return {
            "expert": self.serving.spec.name,
            "track": self.route.track,
            "reason": self.reason,
            "format": self.route.format,
            "task": self.route.task,
            "text": text,
            **verdict_fields(text, self.route.format),
            "finish_reason": finish,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "adapter": self.serving.adapter,
            "checkpoint": self.serving.spec.checkpoint,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }
