"""The router as the named Ray actor: records serving metrics, and streams answers as they decode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.metrics import MetricsRecorder
from serving.router import Router
from serving.routing import RouterSettings
from serving.streaming import stream_answer


class ServedRouter(Router):
    """A Router that records its answers, batches and reloads as Ray metrics (exported by Ray's Prometheus
    endpoint) and has a streaming method. `recorder` is a class attribute so a test can swap it."""

    recorder: type[MetricsRecorder] = MetricsRecorder

    def __init__(self, run_dir: str | Path, settings: RouterSettings | dict[str, Any] | None = None) -> None:
        super().__init__(run_dir, settings, metrics=self.recorder())

    def stream(self, prompt: str, max_new_tokens: int | None, expert: str | None) -> Iterator[dict[str, Any]]:
        """serving.streaming.stream_answer's events; called with num_returns="streaming" (an
        ObjectRefGenerator on the caller's side)."""
        yield from stream_answer(self, prompt, max_new_tokens, expert)
