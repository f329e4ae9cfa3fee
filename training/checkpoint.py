"""Atomic checkpoints with a sha256 manifest, skip-to-previous on corruption, retention, and RNG capture.

Their state.json is read through training/checkpoint_state.py, which light processes import without torch."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from fileio.digest import file_sha256
from training.checkpoint_state import STATE, read_state

MANIFEST = "manifest.json"
TRAINER_STATE = "trainer_state.pt"
MANIFEST_VERSION = 1
NAME_PATTERN = re.compile(r"^ckpt-(\d{4,})-e(\d+)-s(\d+)$")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SkippedCheckpoint:
    """A checkpoint passed over while looking for the newest valid one, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def build_manifest(directory: Path) -> dict[str, Any]:
    files = {
        str(path.relative_to(directory)): {"sha256": file_sha256(path), "size": path.stat().st_size}
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    return {"version": MANIFEST_VERSION, "files": files}


def next_sequence(root: Path) -> int:
    numbers = [int(match.group(1)) for path in _entries(root) if (match := NAME_PATTERN.match(path.name))]
    return max(numbers, default=0) + 1


def save_checkpoint(
    root: Path,
    epoch: int,
    step: int,
    write_weights: Callable[[Path], None],
    trainer_state: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Write a checkpoint into a temporary directory under root, add its manifest, then rename it into
    place: readers see either the whole checkpoint or none of it."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{next_sequence(root):04d}-e{epoch}-s{step}"
    temp_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        write_weights(temp_dir)
        torch.save(trainer_state, temp_dir / TRAINER_STATE)
        (temp_dir / STATE).write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        (temp_dir / MANIFEST).write_text(json.dumps(build_manifest(temp_dir), indent=2), encoding="utf-8")
        _fsync_tree(temp_dir)
        final = root / name
        os.rename(temp_dir, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return final


def verify_checkpoint(directory: Path) -> str | None:
    """None when every file matches the manifest; otherwise the reason the checkpoint is unusable."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return "no manifest.json (incomplete write?)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable manifest.json ({exc})"
    for relative, expected in sorted(files.items()):
        path = directory / relative
        if not path.is_file():
            return f"{relative} is missing"
        if path.stat().st_size != expected["size"]:
            return f"{relative} has {path.stat().st_size} bytes, manifest says {expected['size']}"
        actual = file_sha256(path)
        if actual != expected["sha256"]:
            return (
                f"{relative} fails its checksum (sha256 {actual[:12]}…, manifest {expected['sha256'][:12]}…)"
            )
    if STATE not in files or TRAINER_STATE not in files:
        return "manifest lists no state.json / trainer_state.pt"
    return None


def _entries(root: Path) -> list[Path]:
    return [path for path in root.iterdir() if path.is_dir()] if root.is_dir() else []


def list_checkpoints(root: Path) -> list[Path]:
    """Finished checkpoints under root, oldest first (temporary directories are ignored)."""
    found = [(int(m.group(1)), path) for path in _entries(root) if (m := NAME_PATTERN.match(path.name))]
    return [path for _, path in sorted(found)]


def newest_valid_checkpoint(root: Path) -> tuple[Path | None, list[SkippedCheckpoint]]:
    """The newest checkpoint that passes its checksums, and every newer one that did not (with why)."""
    skipped: list[SkippedCheckpoint] = []
    for path in reversed(list_checkpoints(root)):
        reason = verify_checkpoint(path)
        if reason is None:
            return path, skipped
        skipped.append(SkippedCheckpoint(path, reason))
        log.warning("skipping corrupt checkpoint", path=str(path), reason=reason)
    return None, skipped


def read_trainer_state(directory: Path, device: torch.device) -> dict[str, Any]:
    return torch.load(directory / TRAINER_STATE, map_location=device, weights_only=True)


def best_checkpoint(root: Path) -> Path | None:
    """The checkpoint with the highest val exact match (ties: lower val loss, then newer)."""
    scored = []
    for order, path in enumerate(list_checkpoints(root)):
        try:
            state = read_state(path)
        except (OSError, ValueError):
            continue
        if state.get("exact_match") is not None:
            val_loss = state.get("val_loss")
            scored.append(
                (state["exact_match"], -(val_loss if val_loss is not None else float("inf")), order, path)
            )
    return max(scored)[3] if scored else None


def apply_retention(root: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest keep_last checkpoints and the best one; returns what was removed."""
    checkpoints = list_checkpoints(root)
    keep = set(checkpoints[-keep_last:])
    best = best_checkpoint(root)
    if best is not None:
        keep.add(best)
    removed = [path for path in checkpoints if path not in keep]
    for path in removed:
        shutil.rmtree(path)
    return removed


def capture_rng() -> dict[str, Any]:
    """Python, numpy and torch RNG states, as tensors and plain values (loadable with weights_only)."""
    version, python_state, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(python_state), gauss],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), position, has_gauss, cached],
        "torch": torch.random.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.random.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    """Seed the Python, numpy and torch streams (a fresh phase starts from here)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def write_dir_atomically(final_dir: Path, fill: Callable[[Path], None]) -> Path:
    """Create final_dir by filling a temporary sibling and renaming it (a crash leaves no half-built dir)."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    temp_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{final_dir.name}-", dir=final_dir.parent))
    try:
        fill(temp_dir)
        try:
            os.rename(temp_dir, final_dir)
        except OSError:
            if not (final_dir / "config.json").is_file():
                raise
            # Another process built the same cache entry first; theirs is identical.
            shutil.rmtree(temp_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return final_dir
