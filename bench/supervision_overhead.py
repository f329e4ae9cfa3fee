"""Benchmark: tokens/s of one specialist under full supervision (Ray actors, a grade every epoch,
checkpoints) against the bare recipe (`train_specialist` with no hooks), same config, same invocation.

Run: python bench/supervision_overhead.py [--config configs/scratch.yaml] [--specialist ascii] [--epochs 2]
Both sides are measured by the recipe's own PhaseResult (train_tokens / train_time_s: optimizer steps and
checkpoint saves, evaluation and setup excluded), so they count the same work. Target (issue 15): >= 0.98.
The foundation (builtin:tiny) is trained once beforehand and cached, so neither side includes it.
The supervised side is what `overnight run --address local` does: a private cluster started the CLI's way
(actors/connect.py, logs streamed to the driver) and the run's status polled as often as the CLI polls it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

import structlog  # noqa: E402
import torch  # noqa: E402

from fileio.atomic import write_text_atomic  # noqa: E402
from settings.recipe import BUILTIN_TINY, FOUNDATION, config_from_dict  # noqa: E402
from settings.run import RunConfig, load_run_config  # noqa: E402
from training.results import PhaseResult  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "supervision_overhead.json"
TARGET_RATIO = 0.98
POLL_S = 2.0
"""How often the driver asks for the run's status: as `overnight run` does (cli/run.py, poll_s)."""


def bench_data(
    config: RunConfig, specialist: str, epochs: int, foundation_epochs: int, output_dir: Path
) -> dict[str, Any]:
    """The config as both sides train it: one specialist, one phase of exactly `epochs` (never extended),
    evaluated, graded and checkpointed every epoch; corpora resolved to absolute paths for the actors."""
    if specialist not in config.specialists:
        known = ", ".join(config.specialists) or "(none)"
        raise SystemExit(f"error: no specialist {specialist!r} in the config; it has: {known}")
    data = config.model_dump(mode="json", exclude_unset=True)
    data.setdefault("run", {}).update(
        output_dir=str(output_dir), corpora_dir=str(Path(config.run.corpora_dir).expanduser().resolve())
    )
    chosen = config.specialists[specialist]
    first = chosen.phases[0].model_dump(mode="json", exclude_unset=True)
    first.update(epochs=epochs)
    data["specialists"] = {
        specialist: {**chosen.model_dump(mode="json", exclude_unset=True), "phases": [first], "faults": {}}
    }
    data.setdefault("training", {}).update(eval_every_epochs=1, checkpoint_every_epochs=1)
    data["watchdog"] = {"every_epochs": 1}
    # Same work on both sides: a supervisor may extend an improving phase, which would lengthen only its runs.
    data.setdefault("policies", {}).update(max_extra_epochs=0)
    if config.model.base_model == BUILTIN_TINY:
        data.setdefault("foundation", {}).update(epochs=foundation_epochs)
    return data


def named(data: dict[str, Any], run_name: str) -> RunConfig:
    return config_from_dict({**data, "run": {**data["run"], "name": run_name}}, RunConfig, source="bench")


def throughput(phases: Sequence[PhaseResult]) -> dict[str, float]:
    """Tokens per second of optimizer steps and the phases' own wall time: the same measures on both sides."""
    tokens = sum(phase.train_tokens for phase in phases)
    seconds = sum(phase.train_time_s for phase in phases)
    return {
        "tokens": tokens,
        "train_time_s": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "phase_wall_time_s": round(sum(phase.wall_time_s for phase in phases), 2),
    }


def bare_round(data: dict[str, Any], specialist: str, run_name: str, threads: int) -> dict[str, Any]:
    """The recipe from a plain call, with the trainer actor's thread count (run in a fresh process)."""
    from training.recipe import train_specialist

    logs_to_stderr()
    torch.set_num_threads(threads)
    result = train_specialist(named(data, run_name), specialist, hooks=None, resume=False, progress=False)
    if result.status != "completed":
        raise RuntimeError(f"the bare run ended {result.status}: {[p.reason for p in result.phases]}")
    return throughput(result.phases)


def bare_in_fresh_process(
    data: dict[str, Any], specialist: str, run_name: str, threads: int
) -> dict[str, Any]:
    """Like the trainer actor, the bare side trains in a fresh process of its own, so neither side carries
    the driver's state (the foundation it trained, earlier rounds, the Ray client). It gets the thread
    environment Ray gives an actor of `threads` CPUs (OMP_NUM_THREADS), which the spawned child inherits."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(bare_round, data, specialist, run_name, threads).result()
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def logs_to_stderr() -> None:
    """The recipe's log lines go to stderr, so stdout is exactly the JSON written to --out."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


class NightWatcher:
    """What the driver does besides polling while a supervised night runs: nothing here;
    bench/supervision_profile.py samples CPU and stacks through it."""

    def started(self) -> None:
        """The supervisor has started the night."""

    def polled(self, run_dir: Path) -> None:
        """The night is still running (called after each status poll)."""

    def ended(self) -> None:
        """The night is over; its cluster is still up."""


def supervised_night(
    config: RunConfig, timeout_s: float, watcher: NightWatcher | None = None
) -> tuple[dict[str, Any], float]:
    """Run `config`'s night on a private local Ray until its supervisor stops running: (its last status,
    wall seconds including Ray's start and shutdown)."""
    import ray

    from actors.connect import connect_ray
    from actors.remote import kill_run_actors, spawn_supervisor

    watcher = watcher or NightWatcher()
    run_dir = config.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    connect_ray("local")  # as `overnight run --address local` starts its cluster
    try:
        supervisor = spawn_supervisor(config, str(run_dir), "bench")
        ray.get(supervisor.start.remote())
        watcher.started()
        deadline = time.monotonic() + timeout_s
        state = ray.get(supervisor.status.remote())
        while state["status"] == "running":
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the supervised run did not finish within {timeout_s:.0f}s; see {run_dir}"
                )
            time.sleep(POLL_S)
            state = ray.get(supervisor.status.remote())
            watcher.polled(run_dir)
        watcher.ended()
    finally:
        kill_run_actors([*config.specialists, FOUNDATION])
        ray.shutdown()
    return state, time.perf_counter() - started


def supervised_round(
    data: dict[str, Any], specialist: str, run_name: str, timeout_s: float
) -> dict[str, Any]:
    """A whole `overnight run` of the specialist on a private local Ray: supervisor, trainer and watchdog
    actors, every event streamed, every epoch graded and decided on."""
    from policies.decision_log import read_log

    config = named(data, run_name)
    run_dir = config.run_dir()
    state, round_wall = supervised_night(config, timeout_s)
    spec = state["specialists"][specialist]
    if spec["state"] != "finished":
        raise RuntimeError(f"the supervised {specialist} ended {spec['state']}: {spec['reason']}")
    phases = [
        PhaseResult.model_validate_json((run_dir / specialist / p.name / "phase_done.json").read_text())
        for p in config.specialists[specialist].phases
    ]
    events = (run_dir / "events" / f"{specialist}.jsonl").read_text(encoding="utf-8").splitlines()
    kinds = [json.loads(line)["type"] for line in events]
    return {
        **throughput(phases),
        # From the supervisor's launch to the specialist's end: the trainer process's start-up included.
        "specialist_wall_time_s": round(spec["finished_at"] - spec["started_at"], 2),
        "round_wall_time_s": round(round_wall, 2),
        "gradings": kinds.count("grade"),
        "step_events": kinds.count("step"),
        "decisions": sum(1 for r in read_log(run_dir / "decisions.jsonl") if r.specialist == specialist),
    }


def measure(
    config: RunConfig,
    specialist: str,
    epochs: int,
    foundation_epochs: int,
    rounds: int,
    work_dir: Path,
    timeout_s: float,
) -> dict[str, Any]:
    """Alternate bare and supervised runs in ABBA order (bare first in even rounds, supervised first in odd
    ones): the machine is shared, so neither side gets the quiet moments or the warm caches."""
    from training.recipe import train_foundation

    data = bench_data(config, specialist, epochs, foundation_epochs, work_dir)
    threads = max(1, int(config.resources.trainer_num_cpus))  # what the trainer actor gives torch
    if config.model.base_model == BUILTIN_TINY:
        torch.set_num_threads(threads)
        train_foundation(named(data, "bench-foundation"), progress=False)
    bare, supervised = [], []
    for index in range(rounds):
        sides = ["bare", "supervised"] if index % 2 == 0 else ["supervised", "bare"]
        for side in sides:
            load = round(os.getloadavg()[0], 2)
            if side == "bare":
                run = bare_in_fresh_process(data, specialist, f"bench-bare-{index}", threads)
                bare.append({**run, "load_1m_before": load, "load_1m_after": round(os.getloadavg()[0], 2)})
            else:
                run = supervised_round(data, specialist, f"bench-supervised-{index}", timeout_s)
                supervised.append(
                    {**run, "load_1m_before": load, "load_1m_after": round(os.getloadavg()[0], 2)}
                )
    bare_tps = statistics.median(r["tokens_per_s"] for r in bare)
    supervised_tps = statistics.median(r["tokens_per_s"] for r in supervised)
    ratio = supervised_tps / bare_tps
    # Each round's pair ran back to back, so its ratio shares that moment's load; their median is steadier.
    paired = [s["tokens_per_s"] / b["tokens_per_s"] for b, s in zip(bare, supervised, strict=True)]
    return {
        "specialist": specialist,
        "epochs": epochs,
        "rounds": rounds,
        "torch_threads": threads,
        "micro_batch_size": config.training.micro_batch_size,
        "grad_accum_steps": config.training.grad_accum_steps,
        "bare_tokens_per_s": round(bare_tps, 1),
        "supervised_tokens_per_s": round(supervised_tps, 1),
        "ratio": round(ratio, 4),
        "paired_ratio_median": round(statistics.median(paired), 4),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "same_tokens": all(b["tokens"] == s["tokens"] for b, s in zip(bare, supervised, strict=True)),
        "bare_phase_wall_time_s": statistics.median(r["phase_wall_time_s"] for r in bare),
        "supervised_phase_wall_time_s": statistics.median(r["phase_wall_time_s"] for r in supervised),
        "supervised_specialist_wall_time_s": statistics.median(
            r["specialist_wall_time_s"] for r in supervised
        ),
        "rounds_detail": [{"bare": b, "supervised": s} for b, s in zip(bare, supervised, strict=True)],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Measure a specialist's training throughput under full supervision (Ray actors, the "
        "watchdog every epoch, checkpoints) against the bare recipe with the same config, and write JSON. "
        "Throughput is the recipe's own train_tokens / train_time_s (evaluation and setup excluded) on both "
        "sides; wall times are reported too. Target: supervised >= 0.98x bare.",
        epilog="example: python bench/supervision_overhead.py --config configs/scratch.yaml --epochs 2",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=REPO_ROOT / "configs" / "scratch.yaml",
        help="run config YAML (default: configs/scratch.yaml)",
    )
    parser.add_argument(
        "--specialist", default="ascii", help="which specialist to train (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=2, help="epochs of its one phase (default: %(default)s)"
    )
    parser.add_argument(
        "--foundation-epochs",
        type=int,
        default=1,
        help="epochs of the builtin:tiny foundation, trained once before both sides "
        "(default: %(default)s; it only has to exist)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="bare/supervised pairs in ABBA order; their medians are compared (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds a supervised round may take (default: %(default)s)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the runs here (default: a temporary directory, removed afterwards)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"result JSON (default: {DEFAULT_OUT.relative_to(REPO_ROOT)})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs_to_stderr()
    if args.epochs < 1 or args.rounds < 1 or args.foundation_epochs < 1:
        parser.error("--epochs, --rounds and --foundation-epochs must be at least 1")
    config = load_run_config(args.config)
    started = time.perf_counter()
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="supervision-overhead-"))
    try:
        results = measure(
            config, args.specialist, args.epochs, args.foundation_epochs, args.rounds, work_dir.resolve(),
            args.timeout,
        )  # fmt: skip
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    results["config"] = str(args.config)
    results["wall_time_s"] = round(time.perf_counter() - started, 1)
    results["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    text = json.dumps(results, indent=2) + "\n"
    write_text_atomic(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
