"""Grade an arm: the weights that answer each track (a base, or what a night's router would serve), greedy
answers to every example of the track's val split, each checked by the HLX answer checker."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.quality_arms import SPLITS
from bench.quality_verdicts import tally
from hlx.checker import check
from hlx.corpus_io import Example, read_corpus
from hlx.grammar import has_grammar
from serving.route_rules import COORDINATOR
from serving.served_run import served_table
from training.evaluate import generate_answers
from training.model import load_for_inference, load_tokenizer, pick_device

FAILURES_KEPT = 5


@dataclass(frozen=True)
class Answerer:
    """The weights that answer one track: a full model, or an adapter on `base`."""

    expert: str
    weights: Path
    base: Path | None
    note: str | None = None


def base_answerers(base_dir: Path) -> dict[str, Answerer]:
    """The base alone answers every track."""
    return {track: Answerer("base", base_dir, None) for track in SPLITS}


def served_answerers(run_dir: Path) -> tuple[Path, dict[str, Answerer]]:
    """(tokenizer directory, answerer per track) as the router picks them: promoted.json read by
    serving.served_run, the coordinator on general and on any track no specialist was promoted for."""
    table = served_table(run_dir)
    answerers = {}
    for track in SPLITS:
        name, note = table.serving(track)
        spec = table.coordinator if name == COORDINATOR else table.specialists[name]
        base = table.coordinator.path if spec.is_adapter else None
        answerers[track] = Answerer(name, spec.path, base, note)
    return table.coordinator.path, answerers


def grade_examples(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    constrained: bool,
    batch_size: int,
    max_new_tokens: int,
) -> dict[str, Any]:
    """Greedy answers to `examples`, tallied per family and format, with the first few failures."""
    answers = generate_answers(
        model, tokenizer, examples, batch_size, max_new_tokens, pick_device(), lambda: None, constrained
    )
    verdicts = [check(answer, ex.response, ex.format) for answer, ex in zip(answers, examples, strict=True)]
    result = tally(
        (ex.task, ex.format, has_grammar(ex.format), verdict.correct, verdict.valid)
        for ex, verdict in zip(examples, verdicts, strict=True)
    )
    failures = [
        {"id": ex.id, "task": ex.task, "format": ex.format, "output": answer, "reference": ex.response,
         "valid": verdict.valid}
        for ex, answer, verdict in zip(examples, answers, verdicts, strict=True) if not verdict.correct
    ]  # fmt: skip
    return {**result, "failures": failures[:FAILURES_KEPT]}


def grade_arm(
    tokenizer_dir: Path,
    answerers: dict[str, Answerer],
    corpora_dir: Path,
    constrained: bool,
    batch_size: int,
    max_new_tokens: int,
) -> dict[str, dict[str, Any]]:
    """Every track's whole val split answered by its answerer; a model loaded once serves every track it
    answers."""
    tokenizer = load_tokenizer(tokenizer_dir)
    loaded: dict[tuple[Path, Path | None], Any] = {}
    splits: dict[str, dict[str, Any]] = {}
    for track, answerer in answerers.items():
        started = time.perf_counter()
        key = (answerer.weights, answerer.base)
        if key not in loaded:
            loaded[key] = load_for_inference(answerer.weights, answerer.base)
        examples = read_corpus(corpora_dir / SPLITS[track] / "val.jsonl")
        with torch.no_grad():
            graded = grade_examples(loaded[key], tokenizer, examples, constrained, batch_size, max_new_tokens)
        splits[track] = {
            "corpus": SPLITS[track], "expert": answerer.expert, "weights": str(answerer.weights),
            "base": str(answerer.base) if answerer.base else None, "note": answerer.note,
            "constrained": constrained, **graded, "seconds": round(time.perf_counter() - started, 1),
        }  # fmt: skip
    return splits
