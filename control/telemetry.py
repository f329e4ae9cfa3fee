"""The per-specialist event files (`events/<name>.jsonl`) the morning report's curves are drawn from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.events import Event

WHERE = ("time", "phase", "epoch", "step")
"""Fields every event line copies from the trainer's event: when and where in training it happened."""


def event_line(kind: str, event: Event, *fields: str, **extra: Any) -> dict[str, Any]:
    """One line of an event file: its type, where it happened, the named fields of `event`, and `extra`."""
    return {"type": kind, **{name: getattr(event, name) for name in (*WHERE, *fields)}, **extra}


def append_event(run_dir: Path, name: str, line: dict[str, Any]) -> None:
    with (run_dir / "events" / f"{name}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
