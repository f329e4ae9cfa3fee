"""Run one night as a user would (`overnight.py` as a subprocess) and measure its wall time and the CPU
time of its whole process tree (the driver, its private Ray cluster, the trainers)."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.cpu_cgroup import CpuCgroup
from fileio.atomic import write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_S = 1.0
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
LINGER_S = 20.0
"""How long the processes of a night may outlive its driver before the bench names them."""


def night_file(output_dir: Path, kind: str) -> Path:
    """Where the measurement of night `kind` is kept, beside its run directory (read by --skip-nights)."""
    return output_dir / f"{kind}.night.json"


def night_command(config: Path, output_dir: Path, kind: str) -> list[str]:
    """The user's command for the night, plus a private Ray cluster (`--address local`): on a cluster that
    is already running the trainers would be that cluster's processes, and their CPU time not the night's."""
    return [sys.executable, str(REPO_ROOT / "overnight.py"), "--config", str(config), "--run-name", kind,
            "--output-dir", str(output_dir), "--address", "local", "--quiet"]  # fmt: skip


def _title(process: psutil.Process) -> str:
    """The actor class for a Ray worker (ray::TrainerActor), the executable's name otherwise."""
    title = " ".join(process.cmdline())
    return title.split()[0].split(".")[0] if title.startswith("ray::") else process.name()


class TreeSampler:
    """Samples the user + system CPU time of the night's processes: the driver, everything below it, and
    the orphans this process adopted since `before` (see `adopt_orphans`). Each process keeps its last
    reading, so one that ends between samples loses at most a sample interval."""

    def __init__(self, pid: int, before: set[int]) -> None:
        self.root = psutil.Process(pid)
        self.before = before
        self.last: dict[tuple[int, float], float] = {}
        self.names: dict[tuple[int, float], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="night-cpu-sampler", daemon=True)

    def processes(self) -> list[psutil.Process]:
        """The driver's tree and every adopted orphan's (children of this process not there `before`)."""
        found: dict[int, psutil.Process] = {}
        tops = [child for child in psutil.Process().children() if child.pid not in self.before]
        for top in {self.root.pid: self.root, **{top.pid: top for top in tops}}.values():
            try:
                found.update({p.pid: p for p in [top, *top.children(recursive=True)]})
            except psutil.Error:
                continue
        return list(found.values())

    def sample(self) -> None:
        for process in self.processes():
            try:
                times = process.cpu_times()
                key = (process.pid, process.create_time())
                # A Ray worker takes its actor's title once the actor exists: keep the latest.
                self.names[key] = _title(process)
            except psutil.Error:
                continue
            self.last[key] = times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def total(self) -> float:
        return sum(self.last.values())

    def by_name(self) -> dict[str, float]:
        """CPU-seconds per process name (Ray names its workers after their actor: ray::TrainerActor)."""
        totals: dict[str, float] = {}
        for key, seconds in self.last.items():
            totals[self.names[key]] = totals.get(self.names[key], 0.0) + seconds
        return {name: round(seconds, 1) for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1])}

    def still_running(self) -> list[str]:
        """The night's processes that are still alive, not zombies (name and pid)."""
        alive = []
        for process in self.processes():
            try:
                if process.pid != self.root.pid and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{process.name()} ({process.pid})")
            except psutil.Error:
                continue
        return alive


def adopt_orphans(on: bool) -> bool:
    """Linux: make this process the subreaper of its descendants, so a night's process whose parent dies
    first (Ray's workers, when the raylet goes) is re-parented here, and its CPU time reaches
    RUSAGE_CHILDREN when `reap_adopted` waits for it. False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


def reap_adopted(before: set[int]) -> int:
    """Wait for every ended child of this process that was not there `before`; returns how many."""
    reaped = 0
    for child in psutil.Process().children():
        try:
            if child.pid not in before and child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, 0)
                reaped += 1
        except (psutil.Error, ChildProcessError):
            continue
    return reaped


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], log_path: Path) -> dict[str, Any]:
    """Run `command` (its output to log_path) and measure its wall time and the CPU time of its process tree.

    CPU time up to three ways. Exact: a cgroup of its own (bench.cpu_cgroup), where this process may make
    one. Otherwise the larger of two lower bounds: the sum of per-process samples (misses up to a second of
    each process that ends between samples), and the kernel's total for the reaped tree (RUSAGE_CHILDREN,
    orphans included where this process can adopt them). The kernel's total misses most of a Ray night: the
    raylet ignores SIGCHLD, so its workers (the trainers) are reaped automatically and Linux adds them to
    no one's total."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = {child.pid for child in psutil.Process().children()}
    group = CpuCgroup.create(f"overnight-bench-{os.getpid()}-{time.monotonic_ns()}")
    adopting = adopt_orphans(True)
    cpu_before = _children_cpu_s()
    try:
        started = time.perf_counter()
        with log_path.open("w", encoding="utf-8") as log:
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            # Moved in before the interpreter is up: everything it starts is born in the group.
            in_group = group is not None and group.add(child.pid)
            sampler = TreeSampler(child.pid, before)
            sampler.start()
            exit_code = child.wait()
        wall_s = time.perf_counter() - started
        deadline = time.monotonic() + LINGER_S
        while (lingering := sampler.still_running()) and time.monotonic() < deadline:
            time.sleep(1.0)
        sampler.stop()
        reaped = reap_adopted(before | {child.pid})
        cpu_cgroup = group.cpu_s() if group is not None and in_group else None
    finally:
        if adopting:
            adopt_orphans(False)
        if group is not None:
            group.close()
    cpu_rusage = _children_cpu_s() - cpu_before
    bound = max(cpu_rusage, sampler.total())
    return {
        "command": command, "log": str(log_path), "exit_code": exit_code, "wall_s": round(wall_s, 1),
        "cpu_s": round(bound if cpu_cgroup is None else cpu_cgroup, 1),
        "cpu_method": "samples or rusage, the larger (lower bounds)" if cpu_cgroup is None else "cgroup",
        "cpu_s_cgroup": None if cpu_cgroup is None else round(cpu_cgroup, 1),
        "cpu_s_sampled": round(sampler.total(), 1), "cpu_s_rusage": round(cpu_rusage, 1),
        "orphans_adopted": reaped if adopting else None, "processes": len(sampler.last),
        "cpu_s_by_process": sampler.by_name(), "still_running_after_exit": lingering,
    }  # fmt: skip


def run_night(kind: str, config: Path, output_dir: Path) -> dict[str, Any]:
    """Run night `kind` from scratch in output_dir/<kind> and keep its measurement beside it."""
    run_dir = output_dir / kind
    if run_dir.exists():
        raise FileExistsError(
            f"{run_dir} exists: rerunning it would resume a finished night and time nothing. Pass "
            "--skip-nights to grade it as it is, or another --output-dir"
        )
    record = {"kind": kind, "config": str(config), "run_dir": str(run_dir), "measured": True,
              **measure(night_command(config, output_dir, kind), output_dir / f"{kind}.log")}  # fmt: skip
    write_json_atomic(night_file(output_dir, kind), record)
    return record


def recorded_night(kind: str, config: Path, output_dir: Path) -> dict[str, Any]:
    """--skip-nights: the night already in output_dir/<kind>, with its measurement when the bench ran it."""
    run_dir = output_dir / kind
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"--skip-nights: no run {run_dir}; run the bench without --skip-nights first (same --output-dir)"
        )
    path = night_file(output_dir, kind)
    if path.is_file():
        return {**json.loads(path.read_text(encoding="utf-8")), "reused": True}
    return {"kind": kind, "config": str(config), "run_dir": str(run_dir), "measured": False,
            "wall_s": None, "cpu_s": None, "reused": True}  # fmt: skip
