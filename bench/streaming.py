"""Time to first token on `overnight serve`: streamed /v1/completions at a given concurrency, the first
text chunk's arrival against the whole answer's. Used by bench/serve_load.py (which deploys and sweeps)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None}
    return {"p50_ms": round(percentile(values, 50), 1), "p99_ms": round(percentile(values, 99), 1)}


def one_stream(url: str, key: str, prompt: str, max_tokens: int) -> tuple[float | None, float, bool]:
    """(ms to the first text chunk or None, ms to [DONE], ended with [DONE]) of one streamed request."""
    body = {"model": "auto", "prompt": prompt, "max_tokens": max_tokens, "stream": True}
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    first: float | None = None
    done = False
    with httpx.stream("POST", f"{url}/v1/completions", headers=headers, json=body, timeout=600) as response:
        for line in response.iter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: ") and first is None:
                choices = json.loads(line[len("data: ") :]).get("choices") or [{}]
                if choices[0].get("text"):
                    first = (time.perf_counter() - started) * 1000
    return first, (time.perf_counter() - started) * 1000, done


def drive_streams(
    url: str, key: str, prompts: list[str], requests: int, concurrency: int, max_tokens: int
) -> dict[str, Any]:
    """`requests` streamed completions from `concurrency` clients: TTFT and full-answer latency."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(
            pool.map(lambda i: one_stream(url, key, prompts[i % len(prompts)], max_tokens), range(requests))
        )
    firsts = [first for first, _, done in results if done and first is not None]
    totals = [total for _, total, done in results if done]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "completed": len(totals),
        "with_text": len(firsts),
        "time_to_first_token": summary(firsts),
        "full_answer": summary(totals),
    }
