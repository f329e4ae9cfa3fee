"""Tokens/s of the recipe (hooks and checkpoints in, evaluation out) against a bare PyTorch loop, same run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from actors.config import RunConfig
from training.baseline import bare_training_run
from training.config import RecipeConfig, load_config
from training.data import load_split
from training.events import Event
from training.hooks import TrainerHooks
from training.loop import PhasePlan, run_phase
from training.model import load_for_training, load_tokenizer, pick_device
from training.recipe import tiny_base_dir
from training.schedule import LRSchedule

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "recipe_throughput.json"


class TimingHooks(TrainerHooks):
    """A realistic observer: keeps every event, as the trainer actor would forward them."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)


def recipe_round(plan: PhasePlan) -> dict[str, float]:
    """One recipe run from a fresh phase dir; time from PhaseStarted to PhaseEnded minus evaluation."""
    shutil.rmtree(plan.phase_dir, ignore_errors=True)
    hooks = TimingHooks()
    result = run_phase(plan, hooks, resume=False, show_progress=False)
    started = next(e.time for e in hooks.events if e.kind == "phase_start")  # type: ignore[attr-defined]
    ended = next(e.time for e in hooks.events if e.kind == "phase_end")  # type: ignore[attr-defined]
    evaluating = sum(e.eval_time_s for e in hooks.events if e.kind == "epoch_eval")  # type: ignore[attr-defined]
    seconds = ended - started - evaluating
    return {
        "tokens": result.train_tokens,
        "seconds": seconds,
        "tokens_per_s": result.train_tokens / seconds,
        "checkpoints": sum(1 for e in hooks.events if e.kind == "checkpoint"),  # type: ignore[attr-defined]
        "events": len(hooks.events),
        "losses": result.step_losses,
    }


def bare_round(plan: PhasePlan) -> dict[str, Any]:
    """The same model, data order, batches, loss, optimizer and schedule in a bare loop."""
    settings = plan.settings
    tokenizer = load_tokenizer(plan.base_dir)
    _, data, _ = load_split(
        plan.corpus_dir / "train.jsonl", tokenizer, settings.max_length, settings.overlong
    )
    model = load_for_training(plan.base_dir, plan.model, plan.method, pick_device(), plan.seed)
    torch.manual_seed(plan.seed)
    schedule = LRSchedule(
        settings.learning_rate, settings.warmup_ratio, settings.schedule, settings.min_lr_ratio
    )
    run = bare_training_run(
        model, data, plan.epochs, settings.micro_batch_size, settings.grad_accum_steps, schedule,
        settings.max_grad_norm, plan.seed, settings.bucket_size, int(tokenizer.pad_token_id),
        settings.weight_decay,
    )  # fmt: skip
    return {
        "tokens": run.tokens,
        "seconds": run.seconds,
        "tokens_per_s": run.tokens_per_s,
        "losses": run.losses,
    }


def bench_plan(config: RecipeConfig, corpus: str, epochs: int, method: str, work_dir: Path) -> PhasePlan:
    """A phase on the builtin base with evaluation reduced to val loss (it is subtracted anyway)."""
    settings = config.training.model_copy(update={"eval_subset": 0, "checkpoint_every_epochs": 1})
    return PhasePlan(
        specialist="bench",
        phase="throughput",
        corpus_dir=config.corpus_dir(corpus),
        epochs=epochs,
        settings=settings,
        faults=config.foundation.faults,
        method=method,  # type: ignore[arg-type]
        model=config.model,
        base_dir=tiny_base_dir(config),
        init_weights=None,
        phase_dir=work_dir / "phase",
        seed=config.run.seed,
    )


def measure(config: RecipeConfig, corpus: str, epochs: int, method: str, rounds: int) -> dict[str, Any]:
    """Interleave bare and recipe rounds (the machine is shared, so neither gets the quiet moments) and
    compare medians."""
    with tempfile.TemporaryDirectory(prefix="throughput-") as work:
        plan = bench_plan(config, corpus, epochs, method, Path(work))
        recipe_runs, bare_runs = [], []
        for _ in range(rounds):
            bare_runs.append(bare_round(plan))
            recipe_runs.append(recipe_round(plan))
    recipe_tps = statistics.median(run["tokens_per_s"] for run in recipe_runs)
    bare_tps = statistics.median(run["tokens_per_s"] for run in bare_runs)
    loss_gap = max(abs(a - b) for a, b in zip(recipe_runs[0]["losses"], bare_runs[0]["losses"], strict=True))
    return {
        "method": method,
        "corpus": corpus,
        "epochs": epochs,
        "rounds": rounds,
        "micro_batch_size": plan.settings.micro_batch_size,
        "grad_accum_steps": plan.settings.grad_accum_steps,
        "tokens_per_run": recipe_runs[0]["tokens"],
        "recipe_tokens_per_s": round(recipe_tps, 1),
        "bare_tokens_per_s": round(bare_tps, 1),
        "ratio": round(recipe_tps / bare_tps, 4),
        "target_ratio": 0.95,
        "checkpoints_per_run": recipe_runs[0]["checkpoints"],
        "events_per_run": recipe_runs[0]["events"],
        "max_step_loss_difference": loss_gap,
        "rounds_detail": [
            {
                "recipe_tokens_per_s": round(r["tokens_per_s"], 1),
                "bare_tokens_per_s": round(b["tokens_per_s"], 1),
            }
            for r, b in zip(recipe_runs, bare_runs, strict=True)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure the recipe's training throughput (hooks and checkpointing included, evaluation "
        "excluded) against a bare PyTorch loop with the same model, data and batches, in the same process.",
        epilog="example: python -m bench.recipe_throughput --config configs/demo.yaml --rounds 3",
    )
    parser.add_argument("--config", type=Path, default=Path("configs/demo.yaml"), help="run config YAML")
    parser.add_argument(
        "--corpus", default="ascii_specialist", help="corpus to train on (default: %(default)s)"
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per round (default: %(default)s)")
    parser.add_argument("--method", choices=("full", "lora"), default="lora", help="default: %(default)s")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of each (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(load_config(args.config, RunConfig), args.corpus, args.epochs, args.method, args.rounds)
    result["wall_time_s"] = round(time.perf_counter() - started, 1)
    result["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(pick_device()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temp = args.out.with_suffix(".json.tmp")
    temp.write_text(json.dumps(result, indent=2), encoding="utf-8")
    os.replace(temp, args.out)
    print(
        f"recipe {result['recipe_tokens_per_s']:,.0f} tok/s, bare {result['bare_tokens_per_s']:,.0f} tok/s: "
        f"ratio {result['ratio']:.3f} (target >= 0.95); written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
