"""Benchmark: what one step event costs the supervisor's machine, updating the night in place (as
`control/machine.transition` does) against the pure alternative that copies the night for every event.

Run: python bench/transition_cost.py [--steps 100 1000 10000] [--events 200]
A night of configs/scratch.yaml has trained `steps` steps of its first specialist's phase (an evaluation every
500 steps, the grading window never taken); then `events` more step events are timed both ways. No Ray,
no threads: the machine alone, as the supervisor runs it for every report a trainer sends.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

from control.decision_book import DecisionBook  # noqa: E402
from control.events import ActorStarted, Reported, Start  # noqa: E402
from control.machine import transition  # noqa: E402
from control.night import Night, new_night  # noqa: E402
from fileio.atomic import write_json_atomic  # noqa: E402
from settings.run import load_run_config  # noqa: E402
from training.events import EpochEval, PhaseStarted, StepMetrics  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "transition_cost.json"
DEFAULT_CONFIG = REPO_ROOT / "configs" / "scratch.yaml"
EVAL_EVERY = 500
T0 = 1_800_000_000.0


def _where(name: str, phase: str, step: int, epoch: int) -> dict[str, Any]:
    return {"specialist": name, "phase": phase, "epoch": epoch, "step": step, "time": T0 + step}


def step_event(name: str, phase: str, number: int) -> Reported:
    """A trainer's report of one optimizer step, its loss slowly falling."""
    event = StepMetrics(**_where(name, phase, number, number // EVAL_EVERY), loss=2.0 - number * 1e-5,
                        grad_norm=1.0, lr=1e-3, peak_lr=2e-3, micro_batch=32, grad_accum=1, tokens=4000,
                        tokens_per_s=5000.0, step_time_s=0.8, examples_seen=32 * number,
                        progress=0.5)  # fmt: skip
    return Reported(T0 + number, name, event)


def trained_night(config_path: Path, steps: int) -> tuple[Night, str, str]:
    """A night whose first specialist has trained `steps` steps of its first phase."""
    config = load_run_config(config_path, machine_checks=False)
    night = new_night(config, str(config_path), None, DecisionBook(config.run.name), T0)
    transition(night, Start(T0))
    name = next(iter(night.run.specialists))
    transition(night, ActorStarted(T0, name, pid=1))
    phase = (config.specialists[name].phases[0].name if name in config.specialists else "general")
    started = PhaseStarted(**_where(name, phase, 0, 0), resumed_from=None, skipped_checkpoints=[],
                           total_steps=steps * 2, peak_lr=2e-3, micro_batch=32, grad_accum=1)  # fmt: skip
    transition(night, Reported(T0, name, started))
    for number in range(1, steps + 1):
        transition(night, step_event(name, phase, number))
        if number % EVAL_EVERY == 0:
            evaluation = EpochEval(**_where(name, phase, number, number // EVAL_EVERY - 1), train_loss=1.0,
                                   val_loss=1.0, exact_match=0.5, format_validity=1.0, n_graded=8,
                                   per_task={}, samples=[], eval_time_s=1.0)  # fmt: skip
            transition(night, Reported(T0 + number, name, evaluation))
    return night, name, phase


def in_place(night: Night, event: Reported) -> Night:
    return transition(night, event)[0]


def copied(night: Night, event: Reported) -> Night:
    """The pure alternative: the old night stays as it was (the config is shared: it is never changed)."""
    return transition(copy.deepcopy(night, {id(night.config): night.config}), event)[0]


Apply = Callable[[Night, Reported], Night]


def time_events(config_path: Path, steps: int, events: int, apply: Apply) -> float:
    """Microseconds per step event, applied `events` times after `steps` steps."""
    night, name, phase = trained_night(config_path, steps)
    started = time.perf_counter()
    for number in range(steps + 1, steps + events + 1):
        night = apply(night, step_event(name, phase, number))
    return (time.perf_counter() - started) / events * 1e6


def measure(config_path: Path, steps_list: Sequence[int], events: int, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for steps in steps_list:
        place = [time_events(config_path, steps, events, in_place) for _ in range(rounds)]
        copy_ = [time_events(config_path, steps, events, copied) for _ in range(rounds)]
        rows.append({
            "steps_in_phase": steps,
            "in_place_us_per_event": round(statistics.median(place), 1),
            "copied_us_per_event": round(statistics.median(copy_), 1),
            "copy_over_in_place": round(statistics.median(copy_) / statistics.median(place), 1),
        })  # fmt: skip
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time the supervisor machine's step event, night updated in place vs copied per event "
        "(the pure alternative), after a phase of each given length; write JSON.",
        epilog="example: python bench/transition_cost.py --steps 100 1000 10000",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="run config (default: scratch)")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 10000],
                        help="steps already in the phase (default: %(default)s)")  # fmt: skip
    parser.add_argument("--events", type=int, default=200, help="step events timed (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="medians over rounds (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.steps) < 1 or args.events < 1 or args.rounds < 1:
        parser.error("--steps, --events and --rounds must be at least 1")
    started = time.perf_counter()
    result = {
        "config": str(args.config),
        "events": args.events,
        "rounds": args.rounds,
        "rows": measure(args.config, args.steps, args.events, args.rounds),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    for row in result["rows"]:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
