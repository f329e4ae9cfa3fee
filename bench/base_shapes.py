"""Which base shape learns most for the CPU time: val loss against CPU-seconds for a few Qwen3 shapes."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from bench.machine import machine_info  # noqa: E402
from fileio.atomic import write_text_atomic  # noqa: E402
from settings.model import SHIPPED_CORPORA, TinyModelSection  # noqa: E402
from training.data import collate, epoch_order, load_split, response_loss_sum  # noqa: E402
from training.tiny_model import build_model, build_tokenizer, corpus_texts  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "base_shapes.json"
CORPORA = SHIPPED_CORPORA
SHAPES: dict[str, dict[str, int]] = {
    "h128-l4": {
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_layers": 4,
        "num_heads": 4,
        "num_kv_heads": 2,
    },
    "h192-l6": {
        "hidden_size": 192,
        "intermediate_size": 576,
        "num_layers": 6,
        "num_heads": 6,
        "num_kv_heads": 2,
    },
    "h256-l6": {
        "hidden_size": 256,
        "intermediate_size": 768,
        "num_layers": 6,
        "num_heads": 8,
        "num_kv_heads": 4,
    },
    "h320-l8": {
        "hidden_size": 320,
        "intermediate_size": 960,
        "num_layers": 8,
        "num_heads": 10,
        "num_kv_heads": 2,
    },
}
BATCH = 32
MAX_LENGTH = 256
WARMUP_STEPS = 50


def val_loss(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> float:
    """Mean response-token loss over fixed val batches."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in batches:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            total += float(response_loss_sum(logits, batch["labels"]))
            count += int((batch["labels"][:, 1:] != -100).sum())
    model.train()
    return total / count


def run_shape(name: str, data_dir: str, cpu_seconds: float, eval_every_s: float, lr: float) -> dict[str, Any]:
    """Train one shape for a CPU-time budget; the curve is (CPU-seconds, tokens, val loss) points."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = Path(data_dir)
    train_files = [root / corpus / "train.jsonl" for corpus in CORPORA]
    tokenizer = build_tokenizer(corpus_texts(train_files), 1024)
    model = build_model(TinyModelSection(**SHAPES[name], head_dim=32, max_position_embeddings=512), tokenizer)
    _, train, _ = load_split(train_files, tokenizer, MAX_LENGTH, "drop")
    _, val, _ = load_split([root / corpus / "val.jsonl" for corpus in CORPORA], tokenizer, MAX_LENGTH, "drop")
    val_batches = [collate(val[i : i + 64], tokenizer.pad_token_id) for i in range(0, 384, 64)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    curve: list[dict[str, float]] = []
    tokens, step, epoch = 0, 0, 0
    started = time.process_time()
    next_eval = 0.0
    while True:
        order = epoch_order([len(example) for example in train], 0, epoch, 1024)
        for start in range(0, len(order) - BATCH + 1, BATCH):
            spent = time.process_time() - started
            if spent >= next_eval:
                curve.append(
                    {
                        "cpu_s": round(spent, 1),
                        "tokens": tokens,
                        "val_loss": round(val_loss(model, val_batches), 4),
                    }
                )
                print(name, curve[-1], flush=True)
                next_eval += eval_every_s
                if spent >= cpu_seconds:
                    return {
                        "shape": name,
                        "parameters": sum(p.numel() for p in model.parameters()),
                        "curve": curve,
                    }
            batch = collate([train[index] for index in order[start : start + BATCH]], tokenizer.pad_token_id)
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / WARMUP_STEPS)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            targets = int((batch["labels"][:, 1:] != -100).sum())
            loss = response_loss_sum(logits, batch["labels"]) / targets
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
            step += 1
        epoch += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="corpora directory (from `overnight corpus generate`)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--cpu-minutes", type=float, default=8.0, help="CPU budget per shape (default: 8)")
    parser.add_argument("--eval-every", type=float, default=60.0, help="CPU-seconds between evaluations")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--parallel", type=int, default=2, help="shapes trained at once, one thread each")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    jobs = [(name, args.data, args.cpu_minutes * 60, args.eval_every, args.lr) for name in args.shapes]
    with multiprocessing.get_context("spawn").Pool(args.parallel) as pool:
        results = pool.starmap(run_shape, jobs)
    report = {"machine": machine_info(), "lr": args.lr, "batch": BATCH, "cpu_minutes": args.cpu_minutes,
              "shapes": results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    for result in results:
        last = result["curve"][-1]
        print(f"{result['shape']}: {result['parameters'] / 1e6:.2f}M params, {last['tokens']} tokens, "
              f"val loss {last['val_loss']} after {last['cpu_s']} CPU-s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
