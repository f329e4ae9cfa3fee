"""Promotion: the best checkpoint of each specialist (by val exact match) is what the router serves."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import structlog

from control.run_files import PROMOTED_FILE, read_promoted
from fileio.atomic import write_json_atomic
from training.checkpoint_state import STATE, read_state

log = structlog.get_logger(__name__)


def best_of_phase(phase_dir: Path) -> dict[str, Any] | None:
    """A finished phase's best checkpoint and its exact match, from the recipe's phase_done.json."""
    done = phase_dir / "phase_done.json"
    if not done.is_file():
        return None
    result = json.loads(done.read_text(encoding="utf-8"))
    if not result.get("best_checkpoint"):
        return None
    return {
        "best_checkpoint": result["best_checkpoint"],
        "best_exact_match": result.get("best_exact_match"),
        "phase": phase_dir.name,
    }


def trained_on(checkpoint: Path, state: dict[str, Any]) -> Path:
    """The base model `checkpoint` was trained on: the recipe records it with every checkpoint."""
    base = state.get("base_dir")
    if not isinstance(base, str) or not base:
        raise ValueError(f"{checkpoint / STATE} records no base_dir (got {base!r}): the base it was trained "
                         "on is unknown, so it cannot be served; promote a checkpoint the recipe wrote")
    return Path(base)


def promote(
    run_dir: Path,
    name: str,
    result: dict[str, Any],
    track: str,
    method: str,
    base_dir: Path | None,
    guarded: bool = False,
) -> bool:
    """Record `result`'s checkpoint as the one `name` serves, unless the promoted one scores higher
    (`guarded`: the regression guard has already compared them on the same val subset).
    The coordinator is `base_dir`, or with None the base the checkpoint was trained on, as its state.json
    records it (so the supervisor never loads the recipe to work it out).
    True when promoted.json changed (the router then reloads that adapter)."""
    promoted = read_promoted(run_dir) or {"specialists": {}}
    current = promoted["specialists"].get(name)
    score = result.get("best_exact_match")
    score = -1.0 if score is None or (isinstance(score, float) and math.isnan(score)) else score
    checkpoint = Path(result["best_checkpoint"])
    if current is not None and (
        (current.get("exact_match", -1.0) > score and not guarded) or current["checkpoint"] == str(checkpoint)
    ):
        return False
    state = read_state(checkpoint)
    base = base_dir if base_dir is not None else trained_on(checkpoint, state)
    promoted["specialists"][name] = {
        "checkpoint": str(checkpoint),
        "path": str(checkpoint / state["weights"]),
        "phase": result.get("phase") or checkpoint.parent.parent.name,
        "exact_match": score,
        "track": track,
        "method": method,
    }
    promoted["coordinator"] = {"path": str(base), "kind": "base"}
    write_json_atomic(run_dir / PROMOTED_FILE, promoted)
    log.info("promoted", specialist=name, checkpoint=str(checkpoint), exact_match=score)
    return True
