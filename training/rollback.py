"""Which checkpoint a rollback restores: the requested one if it is valid, else the newest valid one."""

from __future__ import annotations

from pathlib import Path

from training import checkpoint as ckpt


def rollback_target(root: Path, target: Path | None) -> tuple[Path | None, list[ckpt.SkippedCheckpoint]]:
    """The checkpoint to restore under `root` (None when there is none) and those passed over, with why."""
    reason = ckpt.verify_checkpoint(target) if target is not None else "none requested"
    if target is not None and reason is None:
        return target, []
    skipped = [ckpt.SkippedCheckpoint(target, reason or "invalid")] if target is not None else []
    found, newer = ckpt.newest_valid_checkpoint(root)
    return found, skipped + newer
