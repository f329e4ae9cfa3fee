"""The shipped base as a run uses it: a copy under the run's output directory, keyed by its sha256."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from settings.model import BASE_MANIFEST, SHIPPED_BASE_DIR
from training.checkpoint import write_dir_atomically


def pinned_shipped_base(cache_root: Path, source: Path | None = None) -> Path:
    """`<cache_root>/hlx-base-<sha12>`, copied from models/hlx-base on first use.

    Runs record their base's path in promoted.json, checkpoints and adapters. Under `ray job submit
    --working-dir .` models/hlx-base lives in Ray's temporary copy of the checkout, gone by morning; the
    copy under the output directory stays, and pins each run to the base it trained on even after a
    later `overnight base build` rewrites models/hlx-base."""
    source = SHIPPED_BASE_DIR if source is None else source
    digest = json.loads((source / BASE_MANIFEST).read_text(encoding="utf-8"))["weights_sha256"]
    target = cache_root / f"hlx-base-{digest[:12]}"
    if (target / "config.json").is_file():
        return target

    def fill(directory: Path) -> None:
        for path in source.iterdir():
            if path.is_file():
                shutil.copy2(path, directory / path.name)

    return write_dir_atomically(target, fill)
