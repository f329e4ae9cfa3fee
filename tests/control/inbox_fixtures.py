"""Shared pieces of the inbox tests: the rules, the records, a fresh inbox, and judging a file in place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

from control.inbox import Arrival, Intake, IntakeRules, assess
from control.job_queue import JobQueue, Priority
from hlx.corpus_io import Example, record_from_json
from tests.control.continuous_fixtures import tiny_records

RULES = IntakeRules(specialists=("ascii", "runic"), epochs=2, val_fraction=0.25, seed=0)
RECORDS = tiny_records()[:8]
NOW = 1_700_000_000.0


def example(record: dict[str, Any]) -> Example:
    return record_from_json(record, "records", 0)


def run_dir(inbox: Path) -> Path:
    return inbox.parent / "run"


def sidecar(path: Path, content: Any) -> Path:
    side = path.with_name(path.name + ".meta.json")
    side.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return side


def judge(inbox: Path, path: Path, queue: JobQueue | None = None, rules: IntakeRules = RULES) -> Intake:
    """Assess a file where it lies: its folder is its priority."""
    priority = cast(Priority, path.parent.name)
    return assess(Arrival(path, priority), run_dir(inbox), JobQueue() if queue is None else queue, rules)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def aged(path: Path, modified: float) -> Path:
    os.utime(path, (modified, modified))
    return path
