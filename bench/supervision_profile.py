"""Benchmark: what supervising a night costs, by process and by source: CPU-seconds per minute of night of
every process of the run's private Ray cluster, Ray calls per optimizer step, and (with py-spy) where the
supervisor's and trainers' Python time goes.

Run: python bench/supervision_profile.py [--config configs/scratch.yaml] [--specialist ascii] [--epochs 2]
     [--py-spy] [--as-is]
By default the night is the one bench/supervision_overhead.py supervises (one specialist, one phase,
graded and checkpointed every epoch); --as-is runs the config's own night (a test night, say).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

from bench.supervision_overhead import (  # noqa: E402
    NightWatcher,
    bench_data,
    logs_to_stderr,
    named,
    supervised_night,
)
from fileio.atomic import write_text_atomic  # noqa: E402
from settings.recipe import BUILTIN_TINY  # noqa: E402
from settings.run import RunConfig, load_run_config  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "supervision_profile.json"
SAMPLE_S = 0.5
PY_SPY_RATE = 50
OUR_PACKAGES = ("actors", "control", "report", "training", "policies", "agents", "settings", "serving")


def process_group(process: psutil.Process) -> str:
    """A stable name for a cluster process: the actor class for Ray workers, the executable otherwise."""
    try:
        title = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        return "gone"
    if title.startswith("ray::"):
        return title.split()[0].split(".")[0]
    for known in ("gcs_server", "raylet", "dashboard/agent.py", "dashboard.py", "log_monitor", "monitor.py",
                  "runtime_env/agent", "default_worker.py"):  # fmt: skip
        if known in title:
            return known.rsplit("/", 1)[-1]
    return process.name()


class CpuSampler:
    """Samples the CPU time (user + system) of the driver and every process below it, so a process that
    ends before the night does keeps its last reading."""

    def __init__(self) -> None:
        self.root = psutil.Process(os.getpid())
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.groups: dict[int, str] = {}
        self.timeline: list[tuple[float, dict[int, float]]] = []
        self.own_cpu_s = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _processes(self) -> Iterator[psutil.Process]:
        yield self.root
        yield from self.root.children(recursive=True)

    def sample(self) -> None:
        now = time.time()
        for process in self._processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            if process.pid not in self.first:
                self.first[process.pid] = used
            self.last[process.pid] = used
            # A Ray worker takes its actor's title only once the actor is created: keep the latest name.
            group = process_group(process)
            if group != "gone":
                self.groups[process.pid] = "driver" if process.pid == self.root.pid else group
        self.timeline.append((now, dict(self.last)))

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            began = time.thread_time()
            self.sample()
            self.own_cpu_s += time.thread_time() - began

    def start(self) -> None:
        self.sample()
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()

    def used(self, start: float = float("-inf"), end: float = float("inf")) -> dict[str, float]:
        """CPU-seconds by process group between the samples nearest inside [start, end]."""
        inside = [reading for at, reading in self.timeline if start <= at <= end]
        if len(inside) < 2:
            return {}
        first, last = inside[0], inside[-1]
        used: dict[str, float] = collections.defaultdict(float)
        for pid, seconds in last.items():
            used[self.groups.get(pid, "unknown")] += seconds - first.get(pid, self.first[pid])
        return dict(used)


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on `pid`, without pausing it, per thread, in collapsed-stack form, until it is interrupted."""
    command = ["py-spy", "record", "--pid", str(pid), "--rate", str(PY_SPY_RATE), "--nonblocking",
               "--threads", "--format", "raw", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()


def frame_label(frame: str) -> str | None:
    """`function (file:line)` as `module.function` for our code and a few libraries of interest."""
    if "(" not in frame:
        return None
    function, _, where = frame.rpartition(" (")
    path = where.split(":")[0]
    parts = Path(path).parts
    for package in (*OUR_PACKAGES, "structlog", "pydantic", "ray"):
        if package in parts:
            tail = parts[parts.index(package) :]
            return ".".join((*tail[:-1], Path(tail[-1]).stem, function))
    return None


def summarize_stacks(path: Path, top: int = 30) -> dict[str, Any]:
    """Samples per thread and inclusive samples per function, as CPU-seconds (samples / rate)."""
    if not path.is_file():
        return {"error": f"no py-spy output at {path}"}
    threads: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        for label in {frame_label(frame) for frame in frames[1:]} - {None}:
            inclusive[label] += count  # type: ignore[index]
    seconds = 1 / PY_SPY_RATE
    return {
        "cpu_s": round(total * seconds, 2),
        "by_thread_cpu_s": {name: round(n * seconds, 2) for name, n in threads.most_common()},
        "inclusive_cpu_s": {name: round(n * seconds, 2) for name, n in inclusive.most_common(top)},
    }


def ray_calls() -> dict[str, int]:
    """Actor method calls this cluster ran, by name (Ray's task events; counted, not sampled)."""
    import ray
    from ray.util.state import summarize_tasks

    # This cluster by its address: another helper's cluster on the same machine must not be asked.
    address = ray.get_runtime_context().gcs_address
    summary = summarize_tasks(address=address, raise_on_missing_output=False)
    rows = summary["cluster"]["summary"]
    return {name: sum(row["state_counts"].values()) for name, row in rows.items()}


def pids_of(run_dir: Path) -> dict[str, int]:
    state = json.loads((run_dir / "run_state.json").read_text(encoding="utf-8"))
    pids = {"supervisor": state["supervisor_pid"]}
    for name, spec in state["specialists"].items():
        if spec.get("trainer_pid"):
            pids[f"trainer:{name}"] = spec["trainer_pid"]
    return pids


class Profiler(NightWatcher):
    """Samples every process's CPU from the night's start, py-spies the supervisor and trainers as they
    appear, and counts the actor calls before the cluster goes."""

    def __init__(self, spy_dir: Path | None) -> None:
        self.spy_dir = spy_dir
        self.sampler = CpuSampler()
        self.spies: dict[str, subprocess.Popen[bytes]] = {}
        self.calls: dict[str, int] = {}
        self.started_at = 0.0
        self.wall_s = 0.0

    def started(self) -> None:
        self.sampler.start()
        self.started_at = time.perf_counter()

    def polled(self, run_dir: Path) -> None:
        if self.spy_dir is None:
            return
        for who, pid in pids_of(run_dir).items():
            if who not in self.spies and psutil.pid_exists(pid):
                self.spies[who] = start_py_spy(pid, self.spy_dir / f"{who.replace(':', '_')}.txt")

    def ended(self) -> None:
        self.wall_s = time.perf_counter() - self.started_at
        for spy in self.spies.values():
            stop_py_spy(spy)
        self.sampler.finish()
        self.calls = ray_calls()


def step_times(run_dir: Path) -> dict[str, list[float]]:
    """When each specialist's step events happened (its events file)."""
    times = {}
    for path in sorted((run_dir / "events").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        times[path.stem] = [line["time"] for line in lines if line["type"] == "step"]
    return times


def per_minute(used: dict[str, float], seconds: float) -> dict[str, float]:
    ranked = sorted(used.items(), key=lambda item: -item[1])
    return {group: round(cpu / (seconds / 60), 2) for group, cpu in ranked if cpu >= 0.005}


def report(config: RunConfig, state: dict[str, Any], profiler: Profiler) -> dict[str, Any]:
    """CPU by process over the whole night and over its training (first to last step event)."""
    sampler = profiler.sampler
    times = step_times(config.run_dir())
    steps = {name: len(stamps) for name, stamps in times.items()}
    total_steps = sum(steps.values())
    stamps = [stamp for series in times.values() for stamp in series]
    train_start, train_end = (min(stamps), max(stamps)) if stamps else (0.0, 0.0)
    result: dict[str, Any] = {
        "night_wall_s": round(profiler.wall_s, 1),
        "training_wall_s": round(train_end - train_start, 1),
        "load_1m_after": round(os.getloadavg()[0], 2),
        # The driver's figure includes this sampler's own thread, counted apart here.
        "sampler_cpu_s": round(sampler.own_cpu_s, 2),
        "cpu_s_per_night_minute": per_minute(sampler.used(), profiler.wall_s),
        "cpu_s_per_training_minute": per_minute(
            sampler.used(train_start, train_end), train_end - train_start
        ),
        "steps": steps,
        "ray_calls": profiler.calls,
        "ray_calls_per_step": {
            name: round(n / total_steps, 2) for name, n in profiler.calls.items() if total_steps
        },
        "states": {n: s["state"] for n, s in state["specialists"].items()},
    }
    if profiler.spy_dir is not None:
        result["py_spy"] = {
            who: summarize_stacks(profiler.spy_dir / f"{who.replace(':', '_')}.txt") for who in profiler.spies
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "scratch.yaml")
    parser.add_argument("--specialist", default="ascii", help="the bench night's specialist (default: ascii)")
    parser.add_argument("--epochs", type=int, default=2, help="the bench night's epochs (default: 2)")
    parser.add_argument("--as-is", action="store_true", help="run the config's own night, not the bench's")
    parser.add_argument(
        "--py-spy", action="store_true", help="record the supervisor and trainers with py-spy"
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logs_to_stderr()
    config = load_run_config(args.config)
    work_dir = Path(tempfile.mkdtemp(prefix="supervision-profile-"))
    if args.as_is:
        data = config.model_dump(mode="json", exclude_unset=True)
        data["run"] = {**data.get("run", {}), "output_dir": str(work_dir)}
    else:
        data = bench_data(config, args.specialist, args.epochs, 1, work_dir)
    if not args.as_is and config.model.base_model == BUILTIN_TINY:
        from training.recipe import train_foundation

        train_foundation(named(data, "profile"), progress=False)  # cached before the night, as in the bench
    night_config = named(data, "profile")
    spy_dir = work_dir / "py-spy" if args.py_spy else None
    if spy_dir is not None:
        spy_dir.mkdir(parents=True)
    profiler = Profiler(spy_dir)
    state, _ = supervised_night(night_config, args.timeout, profiler)
    result = {"config": str(args.config), "as_is": args.as_is, "work_dir": str(work_dir),
              **report(night_config, state, profiler)}  # fmt: skip
    text = json.dumps(result, indent=2) + "\n"
    write_text_atomic(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
