"""Nothing about bitsandbytes' 4-bit CPU kernels is printed without qlora: by a Ray worker importing the
router, or by a CLI command that loads it (issue 12 §4)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# bitsandbytes only tries (and fails) to load its CPU 4-bit kernel on a CPU with AVX512-BF16. This preamble
# makes any CPU look like one, so the message the issue saw shows up here too when nothing quiets it.
PRETEND_AVX512_BF16 = """
import importlib.abc, importlib.machinery, sys

class _PretendAvx512Bf16(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "bitsandbytes.functional":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.has_avx512bf16 = lambda: True

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _PretendAvx512Bf16())
"""
KERNEL_MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None, reason="bitsandbytes is not installed"
)


def run_python(code: str) -> str:
    """stdout and stderr of a fresh interpreter running the preamble, then `code`, in the repository."""
    done = subprocess.run(
        [sys.executable, "-c", PRETEND_AVX512_BF16 + code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return done.stdout + done.stderr


def test_the_pretended_cpu_makes_bitsandbytes_print_its_kernel_message() -> None:
    # The control: without the project's quieting, importing bitsandbytes (as peft does) prints it.
    assert KERNEL_MESSAGE in run_python("import bitsandbytes")


def test_a_worker_importing_the_router_prints_nothing_about_4bit_kernels() -> None:
    # A Ray worker unpickling the Router imports serving.router first thing, and with it peft.
    output = run_python("import serving.router; import sys; assert 'bitsandbytes' in sys.modules")
    assert "Error" not in output, output
    assert "4bit" not in output and "kernels-community" not in output, output


def test_a_cli_command_loading_the_router_prints_nothing_about_4bit_kernels(tmp_path: Path) -> None:
    # `overnight ask --local` loads the router in process; the base here is a stub that fails to load,
    # which is enough: every import the router needs has happened by then.
    base = tmp_path / "runs" / "r1" / "base"
    base.mkdir(parents=True)
    (base / "config.json").write_text("{}", encoding="utf-8")
    promoted = {"coordinator": {"path": str(base)}, "specialists": {}}
    (base.parent / "promoted.json").write_text(json.dumps(promoted), encoding="utf-8")
    runs = str(tmp_path / "runs")
    argv = ["overnight", "ask", "--local", "--output-dir", runs, "--run", "r1", "Convert: 1"]
    output = run_python(f"import sys; sys.argv = {argv!r}; import overnight; sys.exit(overnight.main())")
    assert "the coordinator's base model does not load" in output, output
    assert "4bit" not in output and "kernels-community" not in output, output
