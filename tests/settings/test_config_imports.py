"""Reading a config loads torch only to answer a CUDA question: the driver and the CLIs read one at every
start, and torch's import costs them seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def torch_loaded_after_reading(model: dict[str, str]) -> bool:
    """Whether a fresh interpreter has imported torch after validating a config with this model section."""
    code = (
        "import json, sys\n"
        "from settings.recipe import config_from_dict\n"
        "from settings.errors import ConfigError\n"
        "try:\n"
        f"    config_from_dict({{'model': {model!r}}})\n"
        "except ConfigError:\n"
        "    pass  # the CPU-only refusal; whether torch was needed for it is the question\n"
        "print(json.dumps('torch' in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return bool(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("model", "needs_torch"),
    [
        ({}, False),
        ({"method": "lora", "dtype": "float32"}, False),
        ({"method": "full", "dtype": "bfloat16"}, False),
        ({"method": "qlora"}, True),
        ({"dtype": "float16"}, True),
    ],
)
def test_torch_is_imported_only_for_the_cuda_checks(model: dict[str, str], needs_torch: bool) -> None:
    assert torch_loaded_after_reading(model) is needs_torch
