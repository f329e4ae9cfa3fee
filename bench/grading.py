"""Benchmark: rubric grading time on a 10-epoch window, and the LLM grader path's overhead on a local server.

Run: python bench/grading.py [--reps 2000] [--llm-reps 50] [--out bench/results/grading.json]
The LLM path goes through the real anthropic SDK over HTTP to the test suite's fake Messages API on
127.0.0.1, so it measures our prompt building, the SDK, the local HTTP round trip and answer checking,
not the network or the model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

import anthropic  # noqa: E402

from agents.llm_grader import LLMGrader, LLMGraderConfig  # noqa: E402
from agents.metrics import EpochRecord, MetricWindow  # noqa: E402
from agents.rubric import grade_with_rubric  # noqa: E402
from fileio.atomic import write_text_atomic  # noqa: E402
from tests.agents.fake_messages_server import FakeMessagesServer, tool_use_reply  # noqa: E402

RUBRIC_TARGET_MS = 5.0
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "grading.json"


def ten_epoch_window(steps_per_epoch: int = 50, seed: int = 0) -> MetricWindow:
    """A realistic window: a noisy decreasing loss with a few spikes, improving evaluations."""
    rng = random.Random(seed)
    steps = [2.0 * 0.995**step * (1 + rng.uniform(-0.05, 0.05)) for step in range(10 * steps_per_epoch)]
    for spike in rng.sample(range(10, len(steps)), 5):
        steps[spike] *= 2.0
    epochs = [EpochRecord(epoch=epoch, val_loss=1.5 * 0.9**epoch, exact_match=min(0.99, 0.6 + 0.04 * epoch),
                          format_validity=min(1.0, 0.9 + 0.012 * epoch), lr=2e-4 if epoch < 6 else 1e-4)
              for epoch in range(1, 11)]
    return MetricWindow(specialist="ascii_specialist", phase="phase2", epochs=epochs, step_losses=steps)


def time_ms(call: Callable[[], object], reps: int) -> list[float]:
    samples = []
    for _ in range(reps):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, 95th percentile and minimum in milliseconds, and the number of repetitions."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "min_ms": ordered[0],
            "reps": len(ordered)}


def bench_rubric(window: MetricWindow, reps: int) -> dict[str, float]:
    grade_with_rubric(window)  # warm-up: imports, pydantic schema caches
    return summarize(time_ms(lambda: grade_with_rubric(window), reps))


def bench_llm_path(window: MetricWindow, reps: int) -> dict[str, float]:
    rubric = grade_with_rubric(window)
    answer = {"components": {c.name: c.points for c in rubric.components}, "score": rubric.score,
              "letter": rubric.letter, "rationale": "matches the rubric's reading of the numbers"}
    with FakeMessagesServer() as server:
        server.enqueue(*[tool_use_reply(answer) for _ in range(reps + 1)])
        config = LLMGraderConfig(base_url=server.base_url, timeout_s=5.0, max_retries=0, budget_usd=1000.0)
        with LLMGrader(config, env={"ANTHROPIC_API_KEY": "bench-key"}) as grader:
            grader.grade(window)  # warm-up: SDK client construction
            samples = time_ms(lambda: grader.grade(window), reps)
            if grader.budget.calls != reps + 1:
                # A fallback would time the rubric instead of the LLM path; refuse to report that.
                raise RuntimeError(f"expected {reps + 1} LLM calls, the budget counted {grader.budget.calls}")
    return summarize(samples)


def bench_no_key_fallback(window: MetricWindow, reps: int) -> dict[str, float]:
    grader = LLMGrader(LLMGraderConfig(), env={})
    return summarize(time_ms(lambda: grader.grade(window), reps))


def run(reps: int, llm_reps: int) -> dict[str, object]:
    window = ten_epoch_window()
    rubric = bench_rubric(window, reps)
    llm = bench_llm_path(window, llm_reps)
    fallback = bench_no_key_fallback(window, reps)
    return {
        "benchmark": "grading",
        "window": {"epochs": len(window.epochs), "step_losses": len(window.step_losses)},
        "rubric": {**rubric, "target_ms": RUBRIC_TARGET_MS,
                   "within_target": rubric["median_ms"] < RUBRIC_TARGET_MS},
        "llm_path_local_server": {**llm, "overhead_vs_rubric_ms": llm["median_ms"] - rubric["median_ms"]},
        "llm_fallback_no_key": fallback,
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "anthropic": anthropic.__version__, "cpus": os.cpu_count() or 0},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the rubric grader on a 10-epoch window (target: median under 5 ms) and the LLM "
                    "grader path against a local fake Messages API; write the results as JSON.",
        epilog="example: python bench/grading.py --reps 2000 --llm-reps 50 --out bench/results/grading.json",
    )
    parser.add_argument("--reps", type=int, default=2000,
                        help="repetitions of the rubric grading (and of the no-key fallback); default 2000")
    parser.add_argument("--llm-reps", type=int, default=50,
                        help="repetitions of the LLM grader path over local HTTP; default 50")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write the JSON results; default {DEFAULT_OUT.relative_to(REPO_ROOT)}")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.llm_reps < 1:
        parser.error(f"--reps and --llm-reps must be at least 1, got {args.reps} and {args.llm_reps}")
    results = run(args.reps, args.llm_reps)
    text = json.dumps(results, indent=2) + "\n"
    write_text_atomic(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
