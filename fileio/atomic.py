"""Atomic file writes: a temporary file in the same folder, flushed to disk, then renamed over the target."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _replace_with(
    path: Path, fill: Callable[[IO[bytes]], None], make_parents: bool, mode: int | None = None
) -> None:
    """Write through `fill` into a temporary sibling of `path`, fsync it, and rename it over `path`; on any
    failure the temporary file is removed and `path` keeps its old content. The file is private (0600, as
    mkstemp makes it) unless `mode` is given."""
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    # A dot name: folder scanners (the inbox, run listings) never mistake a write in progress for a file.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes, make_parents: bool = True) -> None:
    """Write `data` to `path` atomically. Without `make_parents`, a missing folder is a FileNotFoundError
    instead of being created again (a run directory that was removed stays removed)."""
    _replace_with(Path(path), lambda handle: handle.write(data), make_parents)


def write_text_atomic(path: Path, text: str, make_parents: bool = True) -> None:
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), make_parents)


def write_json_atomic(path: Path, payload: Any, sort_keys: bool = False) -> None:
    """`payload` as indented UTF-8 JSON (non-ASCII kept as is), written atomically."""
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=sort_keys))


def copy_file_atomic(source: Path, target: Path) -> None:
    """Copy `source` to `target` atomically, with its permission bits: a reader of `target` never sees part
    of the copy."""
    mode = stat.S_IMODE(os.stat(source).st_mode)
    with Path(source).open("rb") as reader:
        _replace_with(Path(target), lambda handle: shutil.copyfileobj(reader, handle), True, mode)
