"""Cost per token of grammar-constrained decoding: the same model and prompts with and without the grammar."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase  # noqa: E402

from hlx.checker import check  # noqa: E402
from hlx.corpus_io import Example, read_corpus  # noqa: E402
from hlx.grammar import has_grammar  # noqa: E402
from settings.model import GENERAL_CORPUS, SHIPPED_CORPORA  # noqa: E402
from settings.recipe import TinyModelSection  # noqa: E402
from training.data import collate, encode_examples, response_loss_sum  # noqa: E402
from training.evaluate import generate_answers  # noqa: E402
from training.model import load_tokenizer  # noqa: E402
from training.tiny_model import ensure_tiny_base  # noqa: E402

CORPORA = REPO_ROOT / "corpora"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "grammar.json"
TOKENIZER_CORPORA = SHIPPED_CORPORA


def brief_training(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, steps: int, seed: int
) -> float:
    """A few AdamW steps (batch 16) on the general corpus, so the model writes answers that look like answers
    (validity far from 0 or 1 without the grammar). Returns the last step's loss per token."""
    examples = read_corpus(CORPORA / GENERAL_CORPUS / "train.jsonl")
    encoded, _ = encode_examples(examples, tokenizer, 256, "drop")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(seed)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        batch = collate(rng.sample(encoded, 16), tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        tokens = int((batch["labels"][:, 1:] != -100).sum())
        loss = response_loss_sum(logits, batch["labels"]) / tokens
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss.detach())


def value_prompts(count: int) -> list[Example]:
    """`count` val examples whose answer is in a value format, taken in turn from the three corpora."""
    pools = [[ex for ex in read_corpus(CORPORA / name / "val.jsonl") if has_grammar(ex.format)]
             for name in TOKENIZER_CORPORA]
    chosen: list[Example] = []
    for depth in range(max(len(pool) for pool in pools)):
        chosen += [pool[depth] for pool in pools if depth < len(pool)]
    return chosen[:count]


def measure_arm(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: list[Example],
                constrained: bool, max_new_tokens: int, batch_size: int) -> dict[str, Any]:
    started = time.perf_counter()
    answers = generate_answers(model, tokenizer, examples, batch_size, max_new_tokens, torch.device("cpu"),
                               lambda: None, constrained=constrained)
    seconds = time.perf_counter() - started
    tokens = sum(len(tokenizer(answer, add_special_tokens=False)["input_ids"]) + 1 for answer in answers)
    verdicts = [check(answer, ex.response, ex.format) for ex, answer in zip(examples, answers, strict=True)]
    per_format: dict[str, dict[str, float]] = {}
    for fmt in sorted({ex.format for ex in examples}):
        rows = [v for ex, v in zip(examples, verdicts, strict=True) if ex.format == fmt]
        per_format[fmt] = {"n": len(rows), "validity": round(sum(v.valid for v in rows) / len(rows), 4),
                           "exact_match": round(sum(v.correct for v in rows) / len(rows), 4)}
    return {
        "seconds": round(seconds, 3),
        "generated_tokens": tokens,
        "ms_per_token": round(1000 * seconds / tokens, 3),
        "validity": round(sum(v.valid for v in verdicts) / len(verdicts), 4),
        "exact_match": round(sum(v.correct for v in verdicts) / len(verdicts), 4),
        "per_format": per_format,
    }


def run(steps: int, prompts: int, max_new_tokens: int, batch_size: int, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as cache:
        base = ensure_tiny_base(TinyModelSection(), [CORPORA / n / "train.jsonl" for n in TOKENIZER_CORPORA],
                                Path(cache))
        tokenizer = load_tokenizer(base)
        model = AutoModelForCausalLM.from_pretrained(str(base))
    train_started = time.perf_counter()
    last_loss = brief_training(model, tokenizer, steps, seed)
    examples = value_prompts(prompts)
    measure_arm(model, tokenizer, examples[:batch_size], True, max_new_tokens, batch_size)  # warm-up, compile
    arms = {name: measure_arm(model, tokenizer, examples, constrained, max_new_tokens, batch_size)
            for name, constrained in (("free", False), ("grammar", True))}
    return {
        "what": "greedy answers to val prompts in a value format, same model and prompts, with and without "
                "the answer format's grammar (training.constrained)",
        "model": {"base": "builtin:tiny (default shape)",
                  "parameters": sum(p.numel() for p in model.parameters()), "training_steps": steps,
                  "training_seconds": round(time.perf_counter() - train_started, 1),
                  "last_loss_per_token": round(last_loss, 4)},
        "prompts": len(examples), "max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": seed,
        "arms": arms,
        "grammar_overhead": round(arms["grammar"]["ms_per_token"] / arms["free"]["ms_per_token"], 3),
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=80, help="training steps (batch 16) first")
    parser.add_argument("--prompts", type=int, default=96)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args.steps, args.prompts, args.max_new_tokens, args.batch_size, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".json.tmp")
    partial.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    partial.replace(args.out)
    print(json.dumps({name: {k: arm[k] for k in ("ms_per_token", "validity", "exact_match")}
                      for name, arm in result["arms"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
