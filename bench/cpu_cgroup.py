"""Exact CPU time of a process tree: a cgroup of its own, which charges every descendant as it runs, reaped
or not (where this process may create cgroups: root, cgroup v1 cpuacct or v2)."""

from __future__ import annotations

from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# (hierarchy, file with the usage, its unit in seconds); the first that lets us make a group wins.
HIERARCHIES: tuple[tuple[Path, str, float], ...] = (
    (Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage", 1e-9),
    (Path("/sys/fs/cgroup/unified"), "cpu.stat", 1e-6),
    (Path("/sys/fs/cgroup"), "cpu.stat", 1e-6),
)


class CpuCgroup:
    """A fresh cgroup named `name`; `add(pid)` moves a process in (its later children are born inside),
    `cpu_s()` reads the group's total, `close()` empties and removes it."""

    def __init__(self, directory: Path, usage_file: str, unit_s: float) -> None:
        self.directory = directory
        self.usage_file = usage_file
        self.unit_s = unit_s

    @classmethod
    def create(cls, name: str) -> CpuCgroup | None:
        """A new group in the first hierarchy that allows it, or None (not Linux, no permission)."""
        for root, usage_file, unit_s in HIERARCHIES:
            directory = root / name
            try:
                directory.mkdir()
            except OSError:
                continue
            # On a plain directory (a tmpfs where no hierarchy is mounted) mkdir works but makes no group.
            if (directory / usage_file).is_file() and (directory / "cgroup.procs").is_file():
                return cls(directory, usage_file, unit_s)
            directory.rmdir()
        return None

    def add(self, pid: int) -> bool:
        """Move `pid` into the group; False when the kernel refuses (the group then measures nothing)."""
        try:
            (self.directory / "cgroup.procs").write_text(str(pid))
        except OSError as err:
            log.warning("cpu cgroup refused a process", pid=pid, error=str(err))
            return False
        return True

    def cpu_s(self) -> float:
        text = (self.directory / self.usage_file).read_text(encoding="utf-8")
        if self.usage_file == "cpu.stat":
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            return int(fields["usage_usec"]) * self.unit_s
        return int(text.strip()) * self.unit_s

    def close(self) -> None:
        """Move any process still inside to the parent group, then remove the group."""
        parent = self.directory.parent / "cgroup.procs"
        try:
            for pid in (self.directory / "cgroup.procs").read_text().split():
                parent.write_text(pid)
            self.directory.rmdir()
        except OSError as err:
            log.warning("cpu cgroup not removed", path=str(self.directory), error=str(err))
