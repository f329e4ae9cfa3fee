"""Benchmark: does supervision make a night better? Each scenario trains the same config and seed by the bare
recipe and by the supervised night, and compares what each leaves for the morning.

Run: python bench/supervisor_value.py [--quick] [--seeds 2] [--scenarios fault_free,lr_too_high,faults]
- bare: `training.recipe.train_specialist` in a fresh process (torch threads as the trainer actor gets), no
  Ray, no watchdog, no policies; a fault meets the recipe's own default (stop the phase).
- supervised: the whole `overnight run` path (supervisor, trainer and watchdog actors) on a private local Ray.
Both arms train one LoRA specialist (ascii) on a subset of its corpus, on a foundation trained once beforehand
(so neither arm pays for it). Metrics are those of the promoted checkpoint (the phase's best val exact match,
as the router gets it): val loss, exact match and format validity (with 95% Wilson intervals), plus wall time,
epochs trained, the machine's load average and the supervisor's interventions. The starting weights (the
foundation with the untouched LoRA) are evaluated once, so "diverged" means "ended worse than it started".
Scenarios: fault_free (the demo recipe), lr_too_high (its LR x10), faults (a NaN, an OOM and a crash), plateau
(a long phase at LR / 100: the val loss does not move, so every epoch after the evidence says so is wasted).
Verdicts: bench/value_verdicts.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import fmean
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from agents.evidence import wilson_interval  # noqa: E402
from bench import value_verdicts as verdicts  # noqa: E402
from bench.supervision_overhead import logs_to_stderr, named, supervised_night  # noqa: E402
from fileio.atomic import write_text_atomic  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "supervisor_value.json"
SPECIALIST = "ascii"
SCENARIOS = ("fault_free", "lr_too_high", "faults", "plateau")
DEMO_TINY = {"vocab_size": 1024, "hidden_size": 128, "intermediate_size": 384, "num_layers": 4,
             "num_heads": 4, "num_kv_heads": 2, "head_dim": 32, "max_position_embeddings": 512}  # fmt: skip
FIXTURE_TINY = {"vocab_size": 320, "hidden_size": 32, "intermediate_size": 64, "num_layers": 2,
                "num_heads": 2, "num_kv_heads": 1, "head_dim": 16,
                "max_position_embeddings": 256}  # fmt: skip
SIZES = {
    # The demo's model and recipe on a subset of its corpora, sized for 16 nights in ~25 minutes on 2 cores.
    "full": {"tiny": DEMO_TINY, "general": (800, 48), "ascii": (480, 48), "foundation_epochs": 3,
             "epochs": 4, "plateau_epochs": 8, "micro_batch": 32, "max_new_tokens": 96},
    # A smoke run: the fixture-sized model, a few dozen examples.
    "quick": {"tiny": FIXTURE_TINY, "general": (96, 16), "ascii": (96, 16), "foundation_epochs": 1,
              "epochs": 2, "plateau_epochs": 4, "micro_batch": 16, "max_new_tokens": 32},
}  # fmt: skip
DEMO_LR = 2.0e-3
LR_FACTOR = {"lr_too_high": 10.0, "plateau": 0.01}
"""The scenario's LR as a multiple of the demo's."""
START_LR = 1e-12
"""The start reference trains one epoch at this LR: the LoRA's B stays zero, so it is the foundation."""


def write_subsets(work: Path, size: dict[str, Any]) -> Path:
    """The first n train and val lines of the shipped general and ascii corpora, under work/corpora."""
    root = work / "corpora"
    for name, source in (("general", "phase1_general"), ("ascii", "ascii_specialist")):
        for split, count in zip(("train", "val"), size[name], strict=True):
            lines = (
                (REPO_ROOT / "corpora" / source / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            )
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{split}.jsonl").write_text("\n".join(lines[:count]) + "\n", encoding="utf-8")
    return root


def train_foundation_once(work: Path, corpora: Path, size: dict[str, Any]) -> Path:
    """The builtin:tiny foundation on the general subset (seed 0); every arm's LoRA base."""
    from settings.recipe import RecipeConfig, config_from_dict
    from training.recipe import foundation_model_dir, train_foundation

    config = config_from_dict(
        {
            "run": {"name": "foundation", "output_dir": str(work / "runs"), "corpora_dir": str(corpora)},
            "model": {"tiny": {**size["tiny"], "tokenizer_corpora": ["general", "ascii"]}},
            "training": {"learning_rate": 3.0e-3, "micro_batch_size": size["micro_batch"], "eval_subset": 0},
            "foundation": {"corpus": "general", "epochs": size["foundation_epochs"]},
        },
        RecipeConfig,
    )
    torch.set_num_threads(1)
    result = train_foundation(config, progress=False)
    model_dir = foundation_model_dir(config)
    if result.status != "completed" or model_dir is None:
        raise RuntimeError(f"the foundation ended {result.status}: {result.reason}")
    return model_dir


def scenario_data(
    scenario: str, seed: int, base: Path, corpora: Path, work: Path, size: dict[str, Any]
) -> dict[str, Any]:
    """One night's run config: the demo recipe on the subset, evaluated and graded every epoch."""
    epochs = size["plateau_epochs"] if scenario == "plateau" else size["epochs"]
    steps_per_epoch = -(-size["ascii"][0] // size["micro_batch"])
    faults: dict[str, Any] = {}
    if scenario == "faults":
        # A NaN right after the first evaluation, then an OOM and a crash, spread over the rest of the phase.
        first, after = steps_per_epoch + 1, (epochs - 1) * steps_per_epoch
        faults = {"main": {"nan_at_step": first, "oom_at_step": first + after // 3,
                           "crash_at_step": first + 2 * after // 3}}  # fmt: skip
    return {
        "run": {
            "name": "unnamed",
            "output_dir": str(work / "runs"),
            "corpora_dir": str(corpora),
            "seed": seed,
        },
        "model": {"base_model": str(base), "method": "lora", "lora": {"rank": 32, "alpha": 64}},
        "training": {
            "learning_rate": DEMO_LR * LR_FACTOR.get(scenario, 1.0),
            "micro_batch_size": size["micro_batch"],
            "eval_every_epochs": 1,
            "checkpoint_every_epochs": 1,
            "eval_subset": size["ascii"][1],
            "eval_batch_size": size["ascii"][1],
            "max_new_tokens": size["max_new_tokens"],
        },
        "specialists": {
            SPECIALIST: {
                "corpus": "ascii",
                "track": "ascii",
                "faults": faults,
                "phases": [{"name": "main", "epochs": epochs}],
            }
        },
        "watchdog": {"every_epochs": 1},
        "resources": {"trainer_num_cpus": 1},
    }


def metrics_of(evals: list[dict[str, Any]], phase_dir: Path) -> dict[str, Any]:
    """The promoted checkpoint's evaluation (the last one of its step), the final one, and the first loss."""
    from training.checkpoint import best_checkpoint
    from training.checkpoint_state import read_state

    if not evals:
        return {"val_loss": None, "exact_match": None, "format_validity": None, "first_val_loss": None}
    best = best_checkpoint(phase_dir / "checkpoints")
    step = read_state(best)["step"] if best is not None else None
    promoted = next((e for e in reversed(evals) if e["step"] == step), evals[-1])
    chosen = {key: promoted[key] for key in verdicts.METRICS}
    final = {key: evals[-1][key] for key in verdicts.METRICS}
    return {**chosen, "first_val_loss": evals[0]["val_loss"], "final": final, "evaluations": len(evals),
            "promoted_step": promoted["step"]}  # fmt: skip


def with_intervals(run: dict[str, Any]) -> dict[str, Any]:
    for metric in verdicts.PROPORTIONS:
        value, n = run.get(metric), run.get("n_graded") or 0
        run[f"{metric}_ci95"] = (
            list(wilson_interval(value, n, verdicts.Z95)) if value is not None and n else None
        )
    return run


def phase_figures(phase: Any) -> dict[str, Any]:
    """The recipe's own wall time of the phase (setup to finish: what an early stop saves, with neither
    arm's start-up in it), the epochs it trained (the same saving, free of the machine's load) and the spike
    guard's skips; None when the phase never finished."""
    if phase is None:
        return {"phase_wall_time_s": None, "epochs_trained": None, "spike_skipped_steps": None}
    return {
        "phase_wall_time_s": round(phase.wall_time_s, 2),
        "epochs_trained": phase.epochs_completed,
        "spike_skipped_steps": phase.spike_skipped_steps,
    }


def load_average() -> float:
    """The 1-minute load average (the machine is shared: timings are read against it)."""
    return round(os.getloadavg()[0], 2)


def phase_done(run_dir: Path) -> Any:
    from training.results import PhaseResult

    path = run_dir / SPECIALIST / "main" / "phase_done.json"
    return PhaseResult.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None


def bare_arm(data: dict[str, Any], run_name: str) -> dict[str, Any]:
    """The recipe alone, in this (fresh) process; a crash is what the recipe does alone too."""
    from training.hooks import TrainerHooks
    from training.recipe import train_specialist

    logs_to_stderr()
    torch.set_num_threads(1)
    config = named(data, run_name)
    evals: list[dict[str, Any]] = []
    hooks = TrainerHooks(on_event=lambda e: evals.append(e.model_dump()) if e.kind == "epoch_eval" else None)
    started = time.perf_counter()
    try:
        result = train_specialist(config, SPECIALIST, hooks=hooks, resume=False, progress=False)
        status, phases = result.status, result.phases
    except Exception as error:  # the bare recipe's crash is this arm's outcome: recorded, not raised
        status, phases = f"crashed: {type(error).__name__}: {error}", []
    wall = time.perf_counter() - started
    n = evals[-1]["n_graded"] if evals else 0
    phase_dir = config.run_dir() / SPECIALIST / "main"
    return with_intervals({"status": status, **metrics_of(evals, phase_dir), "n_graded": n,
                           "wall_time_s": round(wall, 2), **phase_figures(phases[0] if phases else None),
                           "interventions": 0, "actions": []})  # fmt: skip


def bare_in_fresh_process(data: dict[str, Any], run_name: str) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(bare_arm, data, run_name).result()


def supervised_arm(data: dict[str, Any], run_name: str, timeout_s: float) -> dict[str, Any]:
    """The supervised night; metrics from its own files (event file, decision log, checkpoints)."""
    from policies.decision_log import read_log
    from policies.decisions import Action

    config = named(data, run_name)
    state, round_wall = supervised_night(config, timeout_s)
    run_dir = config.run_dir()
    spec = state["specialists"][SPECIALIST]
    lines = [
        json.loads(line) for line in (run_dir / "events" / f"{SPECIALIST}.jsonl").read_text().splitlines()
    ]
    evals = [line for line in lines if line["type"] == "epoch"]
    decisions = [r for r in read_log(run_dir / "decisions.jsonl") if r.specialist == SPECIALIST]
    actions = [r.action.value for r in decisions if r.action is not Action.CONTINUE]
    # The event file's evaluations carry n_graded; the config's subset of the val split bounds it otherwise.
    val_lines = (config.run.corpora_dir / "ascii" / "val.jsonl").read_text(encoding="utf-8").splitlines()
    n = (evals[-1].get("n_graded") if evals else None) or min(config.training.eval_subset, len(val_lines))
    started, finished = spec.get("started_at"), spec.get("finished_at")
    return with_intervals({
        "status": "completed" if spec["state"] == "finished" else f"{spec['state']}: {spec.get('reason')}",
        **metrics_of(evals, run_dir / SPECIALIST / "main"), "n_graded": n,
        "wall_time_s": round(finished - started, 2) if started and finished else round(round_wall, 2),
        "round_wall_time_s": round(round_wall, 2), **phase_figures(phase_done(run_dir)),
        "interventions": len(actions), "actions": actions,
    })  # fmt: skip


def run_scenario(
    scenario: str, seeds: Sequence[int], setup: dict[str, Any], timeout_s: float
) -> dict[str, list[dict[str, Any]]]:
    """Both arms per seed, alternating which goes first (the machine is shared)."""
    arms: dict[str, list[dict[str, Any]]] = {"bare": [], "supervised": []}
    for index, seed in enumerate(seeds):
        data = scenario_data(scenario, seed, **setup)
        order = ("bare", "supervised") if index % 2 == 0 else ("supervised", "bare")
        for arm in order:
            name = f"{scenario}-{arm}-s{seed}"
            print(f"[supervisor_value] {name} ...", file=sys.stderr, flush=True)
            load_before = load_average()
            run = (
                bare_in_fresh_process(data, name) if arm == "bare" else supervised_arm(data, name, timeout_s)
            )
            arms[arm].append({"seed": seed, **run, "load_average": [load_before, load_average()]})
    return arms


def start_reference(setup: dict[str, Any]) -> dict[str, Any]:
    """The starting weights' evaluation: one epoch at START_LR by the bare recipe (the LoRA's B starts at
    zero, so what is evaluated is the foundation), on the same val subset as every arm."""
    data = scenario_data("fault_free", 0, **setup)
    data["training"]["learning_rate"] = START_LR
    data["specialists"][SPECIALIST]["phases"][0]["epochs"] = 1
    print("[supervisor_value] start reference ...", file=sys.stderr, flush=True)
    run = bare_in_fresh_process(data, "start-reference")
    return {key: run[key] for key in ("status", *verdicts.METRICS, "n_graded", "wall_time_s")}


def judge(results: dict[str, dict[str, list[dict[str, Any]]]], start: dict[str, Any] | None
          ) -> dict[str, Any]:
    """A verdict per scenario run (faults needs fault_free for its reference, lr_too_high the start's)."""
    judged: dict[str, Any] = {}
    start_loss = start.get("val_loss") if start else None
    for scenario, arms in results.items():
        bare, supervised = arms["bare"], arms["supervised"]
        if scenario == "fault_free":
            judged[scenario] = verdicts.verdict_fault_free(bare, supervised)
        elif scenario == "lr_too_high":
            judged[scenario] = verdicts.verdict_lr_too_high(bare, supervised, start_loss)
        elif scenario == "plateau":
            judged[scenario] = verdicts.verdict_plateau(bare, supervised)
        elif "fault_free" in results:
            reference = results["fault_free"]
            judged[scenario] = verdicts.verdict_faults(supervised, reference["supervised"], reference["bare"])
        else:
            judged[scenario] = {"pass": None, "rule": "needs the fault_free scenario as its reference"}
        noise_of = results["fault_free"]["bare"] if scenario == "faults" and "fault_free" in results else bare
        judged[scenario]["noise"] = {k: round(v, 4) for k, v in verdicts.noise(noise_of).items()}
        judged[scenario]["means"] = {
            arm: {
                **{m: round(verdicts.arm_mean(runs, m), 4) for m in verdicts.METRICS},
                "phase_time_s": round(fmean(map(verdicts.phase_time, runs)), 2),
                "epochs_trained": fmean(run.get("epochs_trained") or 0 for run in runs),
            }
            for arm, runs in arms.items()
        }
    return judged


SIZE_NOTES = {
    "quick": "smoke sizes: the fixture-sized model on a few dozen examples",
    "full": "the demo's model and recipe on a subset of its corpora (general and ascii): one LoRA specialist "
    "on a foundation trained once, not the full demo night",
}


def report_text(header: dict[str, Any], results: dict[str, Any], planned: list[str], started: float,
                start: dict[str, Any] | None) -> str:
    report = {
        **header,
        "start": start,
        "scenarios": results,
        "verdicts": judge(results, start),
        "complete": list(results) == planned,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    return json.dumps(report, indent=2, default=str) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, the fixture-sized model (a smoke run)")
    parser.add_argument("--seeds", type=int, help="seeds per scenario (default: 2, or 1 with --quick)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated (default: all)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds one supervised night may take")
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON")
    args = parser.parse_args(argv)
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if not scenarios or unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    seeds = list(range(args.seeds or (1 if args.quick else 2)))
    if not seeds:
        parser.error("--seeds must be at least 1")
    logs_to_stderr()
    size_name = "quick" if args.quick else "full"
    size = SIZES[size_name]
    started = time.perf_counter()
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="supervisor-value-"))).resolve()
    header = {
        "size": size_name,
        "setup": {**size, "specialist": SPECIALIST, "seeds": seeds, "learning_rate": DEMO_LR,
                  "note": SIZE_NOTES[size_name]},
        "metrics_of": "the promoted checkpoint (the phase's best val exact match); 'final': the last eval",
        "noise_method": verdicts.NOISE_METHOD,
        "load_average_at_start": load_average(),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpus": os.cpu_count()},
        "work_dir": str(work) if args.work_dir else None,
    }  # fmt: skip
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        corpora = write_subsets(work, size)
        base = train_foundation_once(work, corpora, size)
        setup = {"base": base, "corpora": corpora, "work": work, "size": size}
        start = start_reference(setup)
        for scenario in scenarios:
            results[scenario] = run_scenario(scenario, seeds, setup, args.timeout)
            # Written after every scenario, so an interrupted bench keeps what it measured.
            text = report_text(header, results, scenarios, started, start)
            write_text_atomic(args.out, text)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
