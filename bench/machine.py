"""Where a bench ran (platform, CPUs, torch threads and device), recorded with its result."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from training.model import pick_device


def machine_info() -> dict[str, Any]:
    """The machine a result came from, so results from different machines are not compared blindly."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(pick_device()),
    }
