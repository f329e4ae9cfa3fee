"""Benchmark the HLX toolkit: corpus generation plus checking, and LC-B against JSON on the corpus values."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

from fileio.atomic import write_text_atomic
from hlx import lcb
from hlx.checker import check
from hlx.corpus_gen import DEFAULT_SEED, generate_corpus, val_size_for
from hlx.corpus_io import Example
from hlx.tasks_common import VALUE_SHAPES, value_of_shape
from hlx.tasks_corpora import CORPUS_SPECS
from hlx.values import Contract, Handle, Record, Value

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hlx_toolkit.json"
ROUNDS = 3


def json_form(value: Value) -> object:
    """The same value as plain JSON data: bytes as hex text, contracts/handles/records as tagged objects."""
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, list):
        return [json_form(item) for item in value]
    if isinstance(value, Contract):
        return {"contract": value.id, "fields": [[index, json_form(field)] for index, field in value.fields]}
    if isinstance(value, Handle):
        return {"handle": value.name}
    if isinstance(value, Record):
        return {key: json_form(entry) for key, entry in value.entries}
    return value


def corpus_values(count: int, seed: int) -> list[Value]:
    """Values drawn the way the corpus generator draws them, shapes in turn."""
    rng = random.Random(f"bench:{seed}")
    return [value_of_shape(rng, VALUE_SHAPES[index % len(VALUE_SHAPES)]) for index in range(count)]


def bench_generate_and_check(total: int, seed: int) -> dict[str, float | int]:
    """Generate about `total` examples over the three corpora, then check every reference answer."""
    per_corpus = math.ceil(total / len(CORPUS_SPECS))
    train_size = max(1, math.ceil(per_corpus / 1.1))
    while train_size + val_size_for(train_size) < per_corpus:
        train_size += 1
    started = time.perf_counter()
    examples: list[Example] = []
    for spec in CORPUS_SPECS:
        corpus = generate_corpus(spec, seed=seed, train_size=train_size)
        examples.extend(example for split in corpus.splits.values() for example in split)
    generated = time.perf_counter()
    invalid = sum(not check(ex.response, ex.response, ex.format).valid for ex in examples)
    finished = time.perf_counter()
    seconds = finished - started
    return {
        "examples": len(examples),
        "seconds": round(seconds, 4),
        "examples_per_s": round(len(examples) / seconds, 1),
        "generate_seconds": round(generated - started, 4),
        "check_seconds": round(finished - generated, 4),
        "invalid_references": invalid,
    }


def _best_of(rounds: int, action) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def bench_lcb_vs_json(count: int, seed: int) -> dict[str, float | int]:
    """LC-B encode+decode against json.dumps+json.loads of the same values (best of ROUNDS each)."""
    values = corpus_values(count, seed)
    plain = [json_form(value) for value in values]
    lcb_seconds = _best_of(ROUNDS, lambda: [lcb.decode(lcb.encode(value)) for value in values])
    json_seconds = _best_of(ROUNDS, lambda: [json.loads(json.dumps(item)) for item in plain])
    return {
        "values": count,
        "lcb_seconds": round(lcb_seconds, 5),
        "json_seconds": round(json_seconds, 5),
        "lcb_over_json_ratio": round(lcb_seconds / json_seconds, 3),
        "lcb_bytes": sum(len(lcb.encode(value)) for value in values),
        "json_bytes": sum(len(json.dumps(item).encode()) for item in plain),
    }


def run(count: int, seed: int) -> dict[str, object]:
    return {
        "benchmark": "hlx_toolkit",
        "n": count,
        "seed": seed,
        "generate_and_check": bench_generate_and_check(count, seed),
        "lcb_vs_json": bench_lcb_vs_json(count, seed),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time corpus generation+checking and LC-B vs JSON; writes and prints a JSON result.",
        epilog="example: python -m bench.hlx_toolkit --n 10000 --out bench/results/hlx_toolkit.json")
    parser.add_argument("--n", type=int, default=10_000,
                        help="examples to generate and check, and values to encode (default: 10000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write the JSON result (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the draws")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    result = run(args.n, args.seed)
    text = json.dumps(result, indent=2)
    write_text_atomic(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
