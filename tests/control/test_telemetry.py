"""Event-file lines: where an event happened and its named fields, appended per specialist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control.telemetry import append_event, event_line

STEP = {"time": 1.5, "phase": "main", "epoch": 0, "step": 3, "loss": 2.5, "lr": 1e-3, "kind": "step"}


def test_a_line_copies_where_and_the_named_fields_only() -> None:
    assert event_line("step", STEP, "loss", note="x") == {
        "type": "step", "time": 1.5, "phase": "main", "epoch": 0, "step": 3, "loss": 2.5, "note": "x",
    }  # fmt: skip
    with pytest.raises(KeyError, match="grad_norm"):
        event_line("step", STEP, "grad_norm")


def test_lines_are_appended_to_the_specialist_file(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    for phase in ("main", "second"):
        append_event(tmp_path, "ascii", event_line("rollback", {**STEP, "phase": phase}))
    lines = (tmp_path / "events" / "ascii.jsonl").read_text().splitlines()
    assert [json.loads(line)["phase"] for line in lines] == ["main", "second"]
