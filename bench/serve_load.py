"""Load on `overnight serve`: 200 requests at concurrency 16 for each `batch_wait_ms` of a sweep, latency,
the batches the router formed, and streamed time to first token.

Run: python bench/serve_load.py [--run NAME|DIR --output-dir DIR] [--requests 200] [--concurrency 16]
     [--batch-wait-ms 5 20 50] [--stream-requests 64]
Without --run, tiny adapters are trained on the fixture corpus first (bench/router.py's fixture run; their
answers mean nothing). The deployment is the one `overnight serve` makes (deploy_http: the named router
actor behind Ray Serve, with an API key) on a private local Ray cluster; each batch_wait_ms gets a fresh
router actor. The baseline is the same deployment asked one request at a time. Writes
bench/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script, the packages live at the repo root

import httpx  # noqa: E402

from bench.streaming import drive_streams, percentile  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "serve_load.json"
PROMPTS = [
    "Convert to HLXL: [1, 2, 3]",
    "Convert to LC-R: {14: {@0: 42}}",
    "Explain contract: {14: {@0: 7}}",
    "Convert to LC-T: true",
]


def drive(url: str, key: str, requests: int, concurrency: int, max_new_tokens: int) -> dict[str, Any]:
    """Send `requests` generate calls from `concurrency` clients; latency per request and errors."""
    headers = {"Authorization": f"Bearer {key}"}

    def one(index: int) -> tuple[int, float]:
        body = {"prompt": PROMPTS[index % len(PROMPTS)], "max_new_tokens": max_new_tokens}
        started = time.perf_counter()
        response = httpx.post(f"{url}/v1/generate", headers=headers, json=body, timeout=600)
        return response.status_code, (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    latencies = [ms for status, ms in results if status == 200]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "ok": len(latencies),
        "errors": {str(s): sum(1 for status, _ in results if status == s) for s, _ in results if s != 200},
        "wall_s": round(wall, 3),
        "requests_per_s": round(requests / wall, 2),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def batches_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The batches the router formed between two Router.stats() snapshots."""
    batches = after["batches"] - before["batches"]
    requests = after["requests"] - before["requests"]
    sizes = {
        size: count - before["sizes"].get(size, 0)
        for size, count in after["sizes"].items()
        if count - before["sizes"].get(size, 0)
    }
    return {
        "batches": batches,
        "requests": requests,
        "mean_batch_size": round(requests / batches, 2) if batches else 0.0,
        "sizes": sizes,
    }


def measure(run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from actors.router_service import ROUTER_NAME, deploy_http, wait_until_gone

    key = secrets.token_urlsafe(24)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray.init(address="local", namespace="overnight", include_dashboard=False, log_to_driver=False)
    sweep: list[dict[str, Any]] = []
    baseline: dict[str, Any] = {}
    try:
        for wait_ms in args.batch_wait_ms:
            url = deploy_http(
                run_dir, "127.0.0.1", port, key, insecure=False, settings={"batch_wait_ms": wait_ms}
            )
            router = ray.get_actor(ROUTER_NAME, namespace="overnight")
            drive(url, key, 16, 4, args.max_new_tokens)  # warm-up: first calls load kernels and caches
            if not baseline:
                before = ray.get(router.stats.remote())
                baseline = drive(url, key, args.baseline_requests, 1, args.max_new_tokens)
                baseline["router_batches"] = batches_between(before, ray.get(router.stats.remote()))
                baseline["streamed"] = drive_streams(url, key, PROMPTS, 16, 1, args.max_new_tokens)
            before = ray.get(router.stats.remote())
            loaded = drive(url, key, args.requests, args.concurrency, args.max_new_tokens)
            loaded["router_batches"] = batches_between(before, ray.get(router.stats.remote()))
            streamed = drive_streams(
                url, key, PROMPTS, args.stream_requests, args.concurrency, args.max_new_tokens
            )
            sweep.append({"batch_wait_ms": wait_ms, "load": loaded, "streamed": streamed})
            print(f"batch_wait_ms {wait_ms}: {one_line(loaded, streamed)}", flush=True)
            ray.kill(router, no_restart=True)  # the next value gets a fresh router with its own settings
            wait_until_gone()
    finally:
        ray.shutdown()
    return {"baseline_one_at_a_time": baseline, "sweep": sweep}


def one_line(load: dict[str, Any], streamed: dict[str, Any]) -> str:
    ttft, full = streamed["time_to_first_token"], streamed["full_answer"]
    return (
        f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, {load['requests_per_s']} req/s, mean batch "
        f"{load['router_batches']['mean_batch_size']}, errors {load['errors']}; streamed: first token p50 "
        f"{ttft['p50_ms']} / p99 {ttft['p99_ms']} ms, "
        f"whole answer p50 {full['p50_ms']} / p99 {full['p99_ms']} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", help="a finished run (name under --output-dir, or its directory)")
    parser.add_argument("--output-dir", default="checkpoints")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline-requests", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-wait-ms", type=float, nargs="+", default=[5.0, 20.0, 50.0])
    parser.add_argument("--stream-requests", type=int, default=64)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="serve_load_"))
    if args.run:
        from control.run_files import resolve_run_dir

        run_dir = resolve_run_dir(Path(args.output_dir), args.run).resolve()
        source = f"run {run_dir}"
    else:
        from bench.router import fixture_run

        run_dir = fixture_run(work)
        source = "tiny adapters trained on the fixture corpus (answers mean nothing)"
    os.environ.pop("OVERNIGHT_API_KEY", None)
    result = {
        "benchmark": "serve_load",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "source": source,
        "max_new_tokens": args.max_new_tokens,
        **measure(run_dir, args),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    base = result["baseline_one_at_a_time"]
    alone = base["streamed"]["time_to_first_token"]
    print(
        f"one at a time: p50 {base['p50_ms']} ms, {base['requests_per_s']} req/s, "
        f"first token p50 {alone['p50_ms']} ms"
    )
    print(f"wrote {args.out}")
    failed = [
        run
        for run in result["sweep"]
        if run["load"]["errors"] or run["streamed"]["completed"] < run["streamed"]["requests"]
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
