"""The --run / --output-dir options of the commands that act on one run, and finding that run's directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def add_run_options(
    parser: argparse.ArgumentParser, default_help: str = "the most recently updated run"
) -> None:
    parser.add_argument("--run", help=f"run name or directory (default: {default_help})")
    parser.add_argument("--output-dir", default="checkpoints", help="where runs live (default: %(default)s)")


def chosen_run_dir(args: argparse.Namespace) -> Path | None:
    """The run directory the options name; None (the reason printed to stderr) when there is none."""
    from control.run_files import RunFileError, resolve_run_dir

    try:
        return resolve_run_dir(Path(args.output_dir), args.run)
    except RunFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return None


def read_chosen_run(
    args: argparse.Namespace, read: Callable[[Path], T], errors: tuple[type[Exception], ...]
) -> tuple[Path, T] | None:
    """The chosen run's directory and what `read` makes of it; None (reason on stderr) when either fails."""
    run_dir = chosen_run_dir(args)
    if run_dir is None:
        return None
    try:
        return run_dir, read(run_dir)
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return None
