"""A checkpoint's state.json (what the recipe recorded with its weights), read without torch: the supervisor
and the command line read it in processes that never train, and importing torch costs them seconds of CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATE = "state.json"


def read_state(directory: Path) -> dict[str, Any]:
    """The state the recipe saved with the checkpoint in `directory`: step, epoch, method, weights, base_dir,
    lr, exact_match, val_loss... (training/phase_io.py writes it)."""
    return json.loads((directory / STATE).read_text(encoding="utf-8"))
