"""How fast the command line answers: `overnight status` and `log` (wall time of the command, as a subprocess,
on a finished run) and `overnight ctl` (from the command's start to its decision line in decisions.jsonl,
on a live tiny run on a private local Ray cluster). Targets: status and log at most 1 s, ctl at most 2 s.

    python bench/cli_latency.py                   # live tiny run, then status/log on it once finished
    python bench/cli_latency.py --run-dir checkpoints/demo --no-live   # status/log on an existing run only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.actors.run_configs import FIXTURES_DIR, TINY_CORPUS, TINY_MODEL  # noqa: E402

TARGETS_S = {"status": 1.0, "log": 1.0, "ctl": 2.0}
LIVE_TIMEOUT_S = 300.0


def overnight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "overnight.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def figures(samples: list[float], target: float, cpu: list[float] | None = None) -> dict[str, Any]:
    return {
        "samples_s": [round(s, 3) for s in samples],
        **({"cpu_s": [round(c, 3) for c in cpu]} if cpu is not None else {}),
        "median_s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
        "target_s": target,
        "met": max(samples) <= target,
    }


def time_reads(run_dir: Path, repeats: int) -> dict[str, Any]:
    """Wall time of `status` and `log` on `run_dir`, each run `repeats` times (stdout a pipe), and the CPU
    time each took (user + system), which a loaded machine does not inflate."""
    where = ["--output-dir", str(run_dir.parent), "--run", run_dir.name]
    result = {}
    for command in ("status", "log"):
        samples, cpu = [], []
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = overnight(command, *where)
            samples.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if done.returncode != 0:
                raise RuntimeError(f"`overnight {command}` failed: {done.stderr[-2000:]}")
        result[command] = figures(samples, TARGETS_S[command], cpu)
    return result


def live_config(output_dir: Path) -> dict[str, Any]:
    """The tiny fixture model with one specialist long enough to be steered while it trains."""
    return {
        "run": {"name": "cli-latency", "output_dir": str(output_dir), "corpora_dir": str(FIXTURES_DIR)},
        "model": {"method": "lora", "lora": {"rank": 4, "alpha": 8}, "tiny": dict(TINY_MODEL)},
        "training": {"learning_rate": 3e-3, "micro_batch_size": 8, "max_length": 128, "eval_subset": 4,
                     "eval_batch_size": 4, "max_new_tokens": 12, "heartbeat_interval_s": 0.2},
        "foundation": {"corpus": TINY_CORPUS, "epochs": 1},
        "specialists": {"ascii": {"corpus": TINY_CORPUS, "track": "ascii",
                                  "phases": [{"name": "main", "epochs": 500}]}},
        "watchdog": {"every_epochs": 1000},
        "supervisor": {"startup_grace_s": 120},
        "resources": {"trainer_num_cpus": 0.5},
    }  # fmt: skip


def _decisions(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "decisions.jsonl"
    if not path.is_file():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("kind") != "outcome"]


def _wait(condition: Any, what: str, timeout_s: float = LIVE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def time_control(run_dir: Path, *argv: str) -> dict[str, Any]:
    """One `overnight ctl`: its wall time, and the seconds from its start to its decision being logged."""
    seen = len(_decisions(run_dir))
    started_at = time.time()
    started = time.perf_counter()
    done = overnight("ctl", *argv, "--output-dir", str(run_dir.parent), "--run", run_dir.name)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"`overnight ctl {' '.join(argv)}` failed: {done.stdout}{done.stderr}")
    new = _decisions(run_dir)[seen:]
    logged = datetime.fromisoformat(new[0]["time"]).timestamp()
    return {"control": " ".join(argv), "action": new[0]["action"], "command_wall_s": round(wall, 3),
            "to_decision_s": round(logged - started_at, 3)}  # fmt: skip


def measure_live(output_dir: Path, rounds: int) -> tuple[dict[str, Any], Path]:
    """Start a tiny night, pause and resume its specialist `rounds` times, then stop the run."""
    config = output_dir / "cli-latency.yaml"
    config.write_text(yaml.safe_dump(live_config(output_dir)))
    run_dir = output_dir / "cli-latency"
    command = [sys.executable, "overnight.py", "--config", str(config), "--quiet", "--address", "local"]
    driver = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        state = run_dir / "run_state.json"
        _wait(lambda: state.is_file() and json.loads(state.read_text())["specialists"]["ascii"]["step"] >= 2,
              "ascii to train")  # fmt: skip
        timings = []
        for _ in range(rounds):
            timings.append(time_control(run_dir, "pause", "ascii"))
            timings.append(time_control(run_dir, "resume", "ascii"))
        timings.append(time_control(run_dir, "stop-run"))
        driver.wait(timeout=LIVE_TIMEOUT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
        tail = driver.stdout.read()[-2000:] if driver.stdout else ""
    if driver.returncode not in (0, 1):
        raise RuntimeError(f"the tiny night's driver failed ({driver.returncode}):\n{tail}")
    samples = [t["to_decision_s"] for t in timings]
    return {"controls": timings, **figures(samples, TARGETS_S["ctl"])}, run_dir


def fixture_run(output_dir: Path) -> Path:
    from tests.actors.fixtures_run import write_fake_run

    return write_fake_run(output_dir).run_dir


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--run-dir", type=Path, help="time status/log on this finished run directory")
    parser.add_argument("--no-live", action="store_true", help="skip the live run (no ctl figures)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="pause/resume rounds (default: %(default)s)")
    parser.add_argument("--out", default="bench/results/cli_latency.json", help="JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"benchmark": "cli_latency", "cpus": os.cpu_count(),
                              "load_average_1m_at_start": round(os.getloadavg()[0], 2)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="overnight-cli-") as tmp:
        run_dir = args.run_dir
        if not args.no_live:
            result["ctl"], live_dir = measure_live(Path(tmp), args.rounds)
            run_dir = run_dir or live_dir
        if run_dir is None:
            run_dir = fixture_run(Path(tmp) / "fixture")
            result["read_run"] = "tests/actors/fixtures_run.py (a seeded two-specialist night)"
        else:
            result["read_run"] = str(run_dir) if args.run_dir else "the live tiny run, finished"
        result.update(time_reads(run_dir, args.repeats))
    result["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["targets_met"] = all(result[key]["met"] for key in ("status", "log", "ctl") if key in result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({key: value for key, value in result.items() if key != "ctl"}, indent=2))
    if "ctl" in result:
        print(f"ctl: median {result['ctl']['median_s']} s, max {result['ctl']['max_s']} s to the decision")
    return 0


if __name__ == "__main__":
    sys.exit(main())
