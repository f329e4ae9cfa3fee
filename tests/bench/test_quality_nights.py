"""The quality bench's night runner: the CPU time of a whole process tree, orphans included, and reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.cpu_cgroup import CpuCgroup
from bench.quality_nights import measure, night_command, night_file, recorded_night, run_night

BURN_S = 1.0
# The child starts a grandchild and exits at once: the grandchild, orphaned, burns BURN_S of CPU. Ray's
# workers outlive their raylet the same way at the end of a night.
ORPHANING = textwrap.dedent(
    f"""
    import subprocess, sys
    burn = "import time\\nstart = time.process_time()\\nwhile time.process_time() - start < {BURN_S}: pass"
    subprocess.Popen([sys.executable, "-c", burn])
    """
)


def test_the_cpu_time_of_an_orphaned_grandchild_is_counted(tmp_path: Path) -> None:
    result = measure([sys.executable, "-c", ORPHANING], tmp_path / "night.log")
    assert result["exit_code"] == 0
    # The kernel's figure includes the orphan only because the bench adopted and reaped it.
    assert result["orphans_adopted"] == 1
    assert result["cpu_s_rusage"] >= BURN_S
    assert result["cpu_s_sampled"] >= BURN_S * 0.5  # sampled once a second: up to a second may be missed
    assert result["cpu_s"] >= BURN_S
    assert result["still_running_after_exit"] == []


def test_a_cgroup_of_its_own_charges_a_process_and_what_it_starts(tmp_path: Path) -> None:
    group = CpuCgroup.create(f"overnight-test-{os.getpid()}")
    if group is None:
        pytest.skip("this process may not create a cgroup here (not root, or no cgroup hierarchy)")
    try:
        child = subprocess.Popen([sys.executable, "-c", ORPHANING])
        assert group.add(child.pid)
        child.wait()
        deadline = time.monotonic() + 30
        while group.cpu_s() < BURN_S and time.monotonic() < deadline:
            time.sleep(0.2)
        assert group.cpu_s() >= BURN_S  # the orphan, auto-reaped or not, is charged as it runs
    finally:
        group.close()
    assert not group.directory.exists()


def test_a_failed_night_keeps_its_exit_code_and_its_output(tmp_path: Path) -> None:
    result = measure([sys.executable, "-c", "print('nope'); raise SystemExit(3)"], tmp_path / "night.log")
    assert result["exit_code"] == 3
    assert (tmp_path / "night.log").read_text() == "nope\n"


def test_the_night_runs_as_a_user_runs_it_on_a_private_cluster(tmp_path: Path) -> None:
    command = night_command(Path("configs/demo.yaml"), tmp_path, "demo")
    assert command[1].endswith("overnight.py")
    assert command[2:] == ["--config", "configs/demo.yaml", "--run-name", "demo",
                           "--output-dir", str(tmp_path), "--address", "local", "--quiet"]  # fmt: skip


def test_an_existing_run_is_not_rerun(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    with pytest.raises(FileExistsError, match="rerunning it would resume a finished night"):
        run_night("demo", Path("configs/demo.yaml"), tmp_path)


def test_skip_nights_reuses_the_measurement_the_bench_kept(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run the bench without --skip-nights first"):
        recorded_night("demo", Path("configs/demo.yaml"), tmp_path)
    (tmp_path / "demo").mkdir()
    unmeasured = recorded_night("demo", Path("configs/demo.yaml"), tmp_path)
    assert unmeasured["measured"] is False and unmeasured["wall_s"] is None and unmeasured["cpu_s"] is None
    night_file(tmp_path, "demo").write_text(json.dumps({"kind": "demo", "wall_s": 512.0, "cpu_s": 900.0}))
    measured = recorded_night("demo", Path("configs/demo.yaml"), tmp_path)
    assert (measured["wall_s"], measured["cpu_s"], measured["reused"]) == (512.0, 900.0, True)
