"""Event-file lines: where an event happened and its named fields, appended per specialist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control.telemetry import append_event, event_line
from tests.control.machine_fixtures import step, where
from training.events import RolledBack

STEP = step("ascii", "main", 3, loss=2.5, now=1.5, lr=1e-3).event


def test_a_line_copies_where_and_the_named_fields_of_the_typed_event_only() -> None:
    assert event_line("step", STEP, "loss", "lr", note="x") == {
        "type": "step", "time": 1.5, "phase": "main", "epoch": 0, "step": 3, "loss": 2.5, "lr": 1e-3,
        "note": "x",
    }  # fmt: skip
    rolled = RolledBack(**where("ascii", "main", step=3), checkpoint="c", skipped_checkpoints=[])
    with pytest.raises(AttributeError, match="grad_norm"):
        event_line("rollback", rolled, "grad_norm")


def test_lines_are_appended_to_the_specialist_file(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    for phase in ("main", "second"):
        append_event(tmp_path, "ascii", event_line("step", STEP.model_copy(update={"phase": phase})))
    lines = (tmp_path / "events" / "ascii.jsonl").read_text().splitlines()
    assert [json.loads(line)["phase"] for line in lines] == ["main", "second"]
