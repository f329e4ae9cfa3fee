"""Tokens/s of the recipe (hooks and checkpoints in, evaluation out) against a bare PyTorch loop, same run."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
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

from bench.machine import machine_info  # noqa: E402
from fileio.atomic import write_text_atomic  # noqa: E402
from settings.recipe import RecipeConfig, load_config  # noqa: E402
from settings.run import RunConfig  # noqa: E402
from training.baseline import bare_training_run  # noqa: E402
from training.data import load_split  # noqa: E402
from training.events import Event  # noqa: E402
from training.hooks import TrainerHooks  # noqa: E402
from training.loop import PhasePlan, run_phase  # noqa: E402
from training.model import load_for_training, load_tokenizer, pick_device  # noqa: E402
from training.recipe import tiny_base_dir  # noqa: E402
from training.schedule import LRSchedule  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "recipe_throughput.json"


class TimingHooks(TrainerHooks):
    """A realistic observer: keeps every event, as the trainer actor would forward them, stamped with the
    wall and CPU clocks at receipt so the evaluation spans can be cut out exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[Event, float, float]] = []

    def on_event(self, event: Event) -> None:
        self.received.append((event, time.perf_counter(), time.process_time()))


def recipe_spans(received: list[tuple[Event, float, float]]) -> dict[str, float]:
    """Wall and CPU seconds from PhaseStarted to PhaseEnded minus evaluation, and where the wall time went.

    An evaluation runs right after the step event that ends its epoch and ends with its EpochEval event;
    a checkpoint starts with a forced `checkpoint` heartbeat and ends with its CheckpointSaved event."""
    kinds = [event.kind for event, _, _ in received]  # type: ignore[attr-defined]
    first, last = kinds.index("phase_start"), kinds.index("phase_end")
    wall = received[last][1] - received[first][1]
    cpu = received[last][2] - received[first][2]
    checkpointing = in_steps = 0.0
    for index in range(first + 1, last + 1):
        event, at_wall, at_cpu = received[index]
        previous = received[index - 1]
        if event.kind == "epoch_eval":  # type: ignore[attr-defined]
            wall -= at_wall - previous[1]
            cpu -= at_cpu - previous[2]
        elif event.kind == "checkpoint" and getattr(previous[0], "stage", None) == "checkpoint":  # type: ignore[attr-defined]
            checkpointing += at_wall - previous[1]
        elif event.kind == "step":  # type: ignore[attr-defined]
            in_steps += event.step_time_s  # type: ignore[attr-defined]
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "checkpoint_seconds": checkpointing,
        "step_seconds": in_steps,
        "other_seconds": wall - checkpointing - in_steps,
    }


def recipe_round(plan: PhasePlan) -> dict[str, Any]:
    """One recipe run from a fresh phase dir; time from PhaseStarted to PhaseEnded minus evaluation."""
    shutil.rmtree(plan.phase_dir, ignore_errors=True)
    hooks = TimingHooks()
    result = run_phase(plan, hooks, resume=False, show_progress=False)
    spans = recipe_spans(hooks.received)
    return {
        **spans,
        "tokens": result.train_tokens,
        "tokens_per_s": result.train_tokens / spans["seconds"],
        "checkpoints": sum(1 for event, _, _ in hooks.received if event.kind == "checkpoint"),  # type: ignore[attr-defined]
        "events": len(hooks.received),
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
    cpu_started = time.process_time()
    run = bare_training_run(
        model, data, plan.epochs, settings.micro_batch_size, settings.grad_accum_steps, schedule,
        settings.max_grad_norm, plan.seed, settings.bucket_size, int(tokenizer.pad_token_id),
        settings.weight_decay,
    )  # fmt: skip
    return {
        "tokens": run.tokens,
        "seconds": run.seconds,
        "cpu_seconds": time.process_time() - cpu_started,
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
    """Alternate short bare and recipe rounds (bare first, then recipe first, ...) so that neither side
    gets the quiet moments of a shared machine. Views of the same runs:
    - `ratio`, the headline: the median over rounds of recipe tokens/s / bare tokens/s, each round's two
      runs back to back, so a burst of load from other processes spoils a few rounds, not the figure;
    - `ratio_of_medians`: median recipe tokens/s over median bare tokens/s;
    - `cpu_ratio`: the same on process CPU time (contention inflates it too, through spinning threads);
    - `overhead_fraction`: the recipe's own wall time outside its optimizer steps (events, hooks,
      checkpoints), which compares no two runs at all."""
    with tempfile.TemporaryDirectory(prefix="throughput-") as work:
        plan = bench_plan(config, corpus, epochs, method, Path(work))
        recipe_runs, bare_runs = alternate_rounds(plan, rounds)
    tokens = recipe_runs[0]["tokens"]
    recipe_tps = statistics.median(run["tokens_per_s"] for run in recipe_runs)
    bare_tps = statistics.median(run["tokens_per_s"] for run in bare_runs)
    recipe_cpu = statistics.median(run["cpu_seconds"] for run in recipe_runs)
    bare_cpu = statistics.median(run["cpu_seconds"] for run in bare_runs)
    overhead = statistics.median(
        (run["checkpoint_seconds"] + run["other_seconds"]) / run["seconds"] for run in recipe_runs
    )
    loss_gap = max(abs(a - b) for a, b in zip(recipe_runs[0]["losses"], bare_runs[0]["losses"], strict=True))
    return {
        "method": method,
        "corpus": corpus,
        "epochs": epochs,
        "rounds": rounds,
        "micro_batch_size": plan.settings.micro_batch_size,
        "grad_accum_steps": plan.settings.grad_accum_steps,
        "tokens_per_run": tokens,
        "recipe_tokens_per_s": round(recipe_tps, 1),
        "bare_tokens_per_s": round(bare_tps, 1),
        "ratio": round(
            statistics.median(
                r["tokens_per_s"] / b["tokens_per_s"] for r, b in zip(recipe_runs, bare_runs, strict=True)
            ),
            4,
        ),
        "target_ratio": 0.95,
        "ratio_of_medians": round(recipe_tps / bare_tps, 4),
        "cpu_ratio": round(bare_cpu / recipe_cpu, 4),
        "overhead_fraction": round(overhead, 4),
        "checkpoints_per_run": recipe_runs[0]["checkpoints"],
        "events_per_run": recipe_runs[0]["events"],
        "max_step_loss_difference": loss_gap,
        "rounds_detail": rounds_detail(recipe_runs, bare_runs),
    }


def alternate_rounds(plan: PhasePlan, rounds: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`rounds` recipe and bare runs, bare first in even rounds and recipe first in odd ones."""
    recipe_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    for index in range(rounds):
        if index % 2 == 0:
            bare_runs.append(bare_round(plan))
            recipe_runs.append(recipe_round(plan))
        else:
            recipe_runs.append(recipe_round(plan))
            bare_runs.append(bare_round(plan))
    return recipe_runs, bare_runs


def rounds_detail(recipe_runs: list[dict[str, Any]], bare_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each round's two runs side by side, in the order they ran."""
    return [
        {
            "order": "bare, recipe" if index % 2 == 0 else "recipe, bare",
            "recipe_tokens_per_s": round(r["tokens_per_s"], 1),
            "bare_tokens_per_s": round(b["tokens_per_s"], 1),
            "recipe_cpu_s": round(r["cpu_seconds"], 2),
            "bare_cpu_s": round(b["cpu_seconds"], 2),
            "recipe_step_s": round(r["step_seconds"], 2),
            "recipe_checkpoint_s": round(r["checkpoint_seconds"], 3),
            "recipe_other_s": round(r["other_seconds"], 3),
        }
        for index, (r, b) in enumerate(zip(recipe_runs, bare_runs, strict=True))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure the recipe's training throughput (hooks and checkpointing included, evaluation "
        "excluded) against a bare PyTorch loop with the same model, data and batches, in the same process.",
        epilog="example: python bench/recipe_throughput.py --config configs/scratch.yaml --rounds 8",
    )
    parser.add_argument("--config", type=Path, default=Path("configs/scratch.yaml"), help="run config YAML")
    parser.add_argument(
        "--corpus", default="ascii_specialist", help="corpus to train on (default: %(default)s)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs per round (default: %(default)s)")
    parser.add_argument("--method", choices=("full", "lora"), default="lora", help="default: %(default)s")
    parser.add_argument(
        "--rounds", type=int, default=8, help="alternating rounds of each (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(load_config(args.config, RunConfig), args.corpus, args.epochs, args.method, args.rounds)
    result["wall_time_s"] = round(time.perf_counter() - started, 1)
    result["machine"] = machine_info()
    write_text_atomic(args.out, json.dumps(result, indent=2))
    print(
        f"recipe {result['recipe_tokens_per_s']:,.0f} tok/s, bare {result['bare_tokens_per_s']:,.0f} tok/s: "
        f"ratio {result['ratio']:.3f} (target >= 0.95), on CPU time {result['cpu_ratio']:.3f}; the recipe's "
        f"time outside its steps: {result['overhead_fraction']:.1%}; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
