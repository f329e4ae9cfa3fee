"""Benchmark the router: memory and throughput against a model per expert, routing overhead, answer quality.

Run: python bench/router.py [--run NAME|DIR] [--out bench/results/router.json]
With --run, every figure is measured on that finished run's promoted checkpoints. Without it, tiny adapters
are trained on the fixture corpus first (seconds; their answers mean nothing, and the JSON says so). The
memory and throughput comparisons are also repeated on a synthetic `scale` base (85M parameters by
default, random LoRA adapters of the run's shape), where resident memory is dominated by weights rather
than by the Python process, so the ratio against the 1.15x target is meaningful.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from bench.router_runs import (  # noqa: E402
    FIXTURE_CORPUS,
    SCALE_HIDDEN,
    SCALE_LAYERS,
    fixture_run,
    lora_settings,
    scale_run,
    scale_shape,
)
from control.run_files import read_promoted, resolve_run_dir  # noqa: E402
from fileio.atomic import write_text_atomic  # noqa: E402
from hlx.checker import check  # noqa: E402
from hlx.corpus_io import prompt_text, read_corpus  # noqa: E402
from serving.route_rules import COORDINATOR, route  # noqa: E402
from serving.router import Router  # noqa: E402
from serving.routing import expert_table  # noqa: E402
from settings.model import SHIPPED_CORPORA  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "router.json"
VAL_SPLITS = [REPO_ROOT / "corpora" / name / "val.jsonl" for name in SHIPPED_CORPORA]
MEMORY_TARGET = 1.15


# -------------------------------------------------------------------------------------------- memory


def separate_models(run_dir: Path) -> dict[str, Any]:
    """The seeds' way: a full model per expert (the base, and the base with each adapter merged in)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    table = expert_table(read_promoted(run_dir) or {})
    models = {COORDINATOR: AutoModelForCausalLM.from_pretrained(str(table.coordinator.path))}
    for name, spec in table.specialists.items():
        base = AutoModelForCausalLM.from_pretrained(str(table.coordinator.path))
        models[name] = PeftModel.from_pretrained(base, str(spec.path)).merge_and_unload()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return {name: model.to(device).eval() for name, model in models.items()}


def memory_child(mode: str, run_dir: Path) -> dict[str, Any]:
    """Resident memory added by loading `mode` (router | one | three), after a warm-up answer from every
    expert: from_pretrained maps weights lazily, so untouched weights would not be counted."""
    from transformers import AutoModelForCausalLM

    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    prompt_ids = torch.tensor([[1, 2, 3, 4]])
    if mode == "router":
        router = Router(run_dir, {"default_max_new_tokens": 2})
        for expert in router.models()["experts"]:
            router.generate("Convert to LC-R: 1", 2, expert=expert["name"])
        parameters = router.models()["parameters"]
        count = parameters["base"] + sum(parameters["adapters"].values())
    else:
        if mode == "one":
            table = expert_table(read_promoted(run_dir) or {})
            models = [AutoModelForCausalLM.from_pretrained(str(table.coordinator.path)).eval()]
        else:
            models = list(separate_models(run_dir).values())
        with torch.inference_mode():
            for model in models:
                model(input_ids=prompt_ids.to(model.device))
        count = sum(p.numel() for model in models for p in model.parameters())
    gc.collect()
    return {"rss_mb": (process.memory_info().rss - before) / 2**20, "parameters": count}


def measure_memory(run_dir: Path, threads: int) -> dict[str, Any]:
    """Each configuration in a fresh process, so one's allocations never count for another."""
    figures = {}
    for mode in ("router", "one", "three"):
        script = str(Path(__file__).resolve())
        command = [
            sys.executable,
            script,
            "--memory-child",
            mode,
            "--run",
            str(run_dir),
            "--threads",
            str(threads),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"memory measurement {mode!r} failed:\n{done.stderr[-3000:]}")
        figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    one = figures["one"]["rss_mb"]
    ratio = figures["router"]["rss_mb"] / one
    return {
        "router_base_plus_adapters_rss_mb": round(figures["router"]["rss_mb"], 1),
        "one_model_rss_mb": round(one, 1),
        "three_models_rss_mb": round(figures["three"]["rss_mb"], 1),
        "router_vs_one_model": round(ratio, 3),
        "three_models_vs_one_model": round(figures["three"]["rss_mb"] / one, 3),
        "target_router_vs_one_model": MEMORY_TARGET,
        "within_target": ratio <= MEMORY_TARGET,
        "parameters": {mode: figures[mode]["parameters"] for mode in figures},
        "parameters_router_vs_one_model": round(
            figures["router"]["parameters"] / figures["one"]["parameters"], 3
        ),
    }


# ------------------------------------------------------------------------------- throughput, quality


def val_examples(per_corpus: int) -> list[Any]:
    return [example for path in VAL_SPLITS for example in read_corpus(path)[:per_corpus]]


def mixed_prompts(count: int) -> list[str]:
    """`count` val instructions, round-robin over the three experts so each gets a third."""
    by_expert: dict[str, list[str]] = {}
    for example in val_examples(10_000):
        by_expert.setdefault(route(example.instruction).expert, []).append(example.instruction)
    queues = [by_expert[name] for name in sorted(by_expert)]
    return [queues[i % len(queues)][i // len(queues)] for i in range(count)]


def speed(seconds: list[float], requests: int, tokens: int) -> dict[str, Any]:
    best = min(seconds)
    return {
        "best_seconds": round(best, 3),
        "median_seconds": round(statistics.median(seconds), 3),
        "requests_per_s": round(requests / best, 2),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / best, 1),
    }


def router_throughput(run_dir: Path, prompts: list[str], max_new: int, repeats: int) -> dict[str, Any]:
    """Both batching strategies on the same requests, in alternating rounds so load changes on a shared
    machine hit both alike; the best round of each counts."""
    limit = max(512, max_new)
    routers = {
        strategy: Router(
            run_dir, {"strategy": strategy, "default_max_new_tokens": max_new, "max_new_tokens_limit": limit}
        )
        for strategy in ("mixed", "group")
    }
    seconds: dict[str, list[float]] = {strategy: [] for strategy in routers}
    tokens: dict[str, int] = {}
    try:
        for router in routers.values():
            router.generate_many(prompts[:6])  # warm-up: first calls pay for weight paging and kernels
        for _ in range(repeats):
            for strategy, router in routers.items():
                started = time.perf_counter()
                answers = router.generate_many(prompts)
                seconds[strategy].append(time.perf_counter() - started)
                tokens[strategy] = sum(answer["completion_tokens"] for answer in answers)
    finally:
        for router in routers.values():
            router.close()
    return {strategy: speed(seconds[strategy], len(prompts), tokens[strategy]) for strategy in routers}


@torch.inference_mode()
def one_by_one_throughput(run_dir: Path, prompts: list[str], max_new: int) -> dict[str, Any]:
    """The seeds' serving: a full model per expert, one request at a time."""
    from training.model import load_tokenizer

    table = expert_table(read_promoted(run_dir) or {})
    models = separate_models(run_dir)
    tokenizer = load_tokenizer(table.coordinator.path)

    def answer(prompt: str) -> int:
        model = models[table.serving(route(prompt).track)[0]]
        batch = tokenizer(prompt_text(prompt), return_tensors="pt", add_special_tokens=False).to(model.device)
        output = model.generate(
            **batch,
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new = output[0, batch["input_ids"].shape[1] :].tolist()
        return new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else len(new)

    for prompt in prompts[:3]:
        answer(prompt)
    started = time.perf_counter()
    tokens = sum(answer(prompt) for prompt in prompts)
    return speed([time.perf_counter() - started], len(prompts), tokens)


def throughput(run_dir: Path, requests: int, max_new: int, repeats: int) -> dict[str, Any]:
    prompts = mixed_prompts(requests)
    router = router_throughput(run_dir, prompts, max_new, repeats)
    seeds = one_by_one_throughput(run_dir, prompts, max_new)
    faster = max(router, key=lambda strategy: router[strategy]["requests_per_s"])
    return {
        "requests": requests,
        "max_new_tokens": max_new,
        "rounds": repeats,
        "router_mixed_adapter_batches": router["mixed"],
        "router_grouped_by_expert": router["group"],
        "one_by_one_model_per_expert": seeds,
        "faster_strategy": faster,
        "router_speedup_vs_one_by_one": round(router[faster]["requests_per_s"] / seeds["requests_per_s"], 2),
    }


def routing_overhead(repeats: int = 5) -> dict[str, Any]:
    instructions = [example.instruction for example in val_examples(10_000)]
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for instruction in instructions:
            route(instruction)
        samples.append((time.perf_counter_ns() - started) / 1000 / len(instructions))
    return {
        "requests": len(instructions),
        "repeats": repeats,
        "median_us_per_request": round(statistics.median(samples), 2),
        "min_us_per_request": round(min(samples), 2),
    }


def quality(run_dir: Path, per_corpus: int, max_new: int) -> dict[str, Any]:
    """Exact match and validity per expert on the corpora's val splits, answered through the router."""
    examples = val_examples(per_corpus)
    router = Router(run_dir, {"default_max_new_tokens": max_new, "max_new_tokens_limit": max(512, max_new)})
    try:
        answers = router.generate_many([example.instruction for example in examples])
    finally:
        router.close()
    tallies: dict[str, list[int]] = {}
    routed_right = 0
    for example, answer in zip(examples, answers, strict=True):
        verdict = check(answer["text"], example.response, example.format)
        tally = tallies.setdefault(answer["expert"], [0, 0, 0])
        tally[0] += 1
        tally[1] += int(verdict.correct)
        tally[2] += int(verdict.valid)
        routed_right += int(answer["track"] == example.track)
    return {
        "max_new_tokens": max_new,
        "examples": len(examples),
        "routed_to_the_record_track": routed_right / len(examples),
        "per_expert": {
            name: {"n": n, "exact_match": round(ok / n, 4), "validity": round(valid / n, 4)}
            for name, (n, ok, valid) in sorted(tallies.items())
        },
    }


# ---------------------------------------------------------------------------------------------- main


def run_max_new(run_dir: Path, fallback: int) -> int:
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except OSError:
        return fallback
    value = (config.get("training") or {}).get("max_new_tokens")
    return value if isinstance(value, int) and value > 0 else fallback


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the MoE router; writes and prints a JSON result.")
    add = parser.add_argument
    add(
        "--run", help="finished run (name under --output-dir, or a directory); default: tiny fixture adapters"
    )
    add("--output-dir", default="checkpoints", help="where runs live (default: %(default)s)")
    add("--out", type=Path, default=DEFAULT_OUT, help=f"JSON result (default: {DEFAULT_OUT})")
    add("--requests", type=int, default=64, help="mixed requests for throughput (default: %(default)s)")
    add("--max-new-tokens", type=int, default=32, help="answer cap for throughput (default: %(default)s)")
    add("--rounds", type=int, default=3, help="timed rounds per batching strategy (default: %(default)s)")
    add("--threads", type=int, default=1, help="torch threads; 1 keeps timings steady on a shared machine")
    add("--quality-per-corpus", type=int, default=200, help="val records per corpus (default: all 200)")
    add("--scale-hidden", type=int, default=SCALE_HIDDEN, help="width of the synthetic base; 0 skips it")
    add("--scale-layers", type=int, default=SCALE_LAYERS, help="layers of the synthetic base")
    add("--memory-child", choices=("router", "one", "three"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.requests < 3 or min(args.max_new_tokens, args.rounds, args.threads, args.quality_per_corpus) < 1:
        parser.error(
            "--requests must be >= 3; --max-new-tokens, --rounds, --threads, --quality-per-corpus >= 1"
        )
    return args


def measure(run_dir: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "setup": {
            "run_dir": str(run_dir),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "memory": {"served": measure_memory(run_dir, args.threads)},
        "throughput": {"served": throughput(run_dir, args.requests, args.max_new_tokens, args.rounds)},
        "routing_overhead": routing_overhead(),
        "quality": quality(run_dir, args.quality_per_corpus, run_max_new(run_dir, args.max_new_tokens)),
    }
    if args.scale_hidden:
        shape = scale_shape(args.scale_hidden, args.scale_layers)
        lora = lora_settings(run_dir)
        scale_dir = scale_run(work, expert_table(read_promoted(run_dir) or {}).coordinator.path, shape, lora)
        results["setup"]["scale"] = {
            "shape": shape,
            "lora": {k: lora[k] for k in ("rank", "alpha", "target_modules")},
            "note": "random weights: answers always run to max_new_tokens",
        }
        results["memory"]["scale"] = measure_memory(scale_dir, args.threads)
        results["throughput"]["scale"] = throughput(
            scale_dir, args.requests, args.max_new_tokens, args.rounds
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, Path(args.run))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_router_") as scratch:
        if args.run:
            run_dir = resolve_run_dir(Path(args.output_dir), args.run)
            source = f"finished run {run_dir}"
        else:
            run_dir = fixture_run(Path(scratch))
            source = (
                f"fixture: builtin:tiny of the demo's shape, ascii/runic LoRA adapters trained for seconds "
                f"on {FIXTURE_CORPUS.relative_to(REPO_ROOT)}; memory and speed are real, answer quality "
                "is not (pass --run NAME for a real run)"
            )
        results = measure(run_dir, Path(scratch), args)
    results["setup"]["source"] = source
    text = json.dumps(results, indent=2)
    write_text_atomic(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
