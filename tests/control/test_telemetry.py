"""Event-file lines: where an event happened, its named fields, and the rollbacks a phase has seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.telemetry import append_event, event_line, rollbacks_in

STEP = {"time": 1.5, "phase": "main", "epoch": 0, "step": 3, "loss": 2.5, "lr": 1e-3, "kind": "step"}


def test_a_line_copies_where_and_the_named_fields_only() -> None:
    assert event_line("step", STEP, "loss", note="x") == {
        "type": "step", "time": 1.5, "phase": "main", "epoch": 0, "step": 3, "loss": 2.5, "note": "x",
    }  # fmt: skip
    with pytest.raises(KeyError, match="grad_norm"):
        event_line("step", STEP, "grad_norm")


def test_rollbacks_are_counted_per_phase_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    assert rollbacks_in(tmp_path, "ascii", "main") == 0
    for phase in ("main", "main", "second"):
        append_event(tmp_path, "ascii", event_line("rollback", {**STEP, "phase": phase}))
    append_event(tmp_path, "ascii", event_line("step", STEP))
    assert rollbacks_in(tmp_path, "ascii", "main") == 2
    assert rollbacks_in(tmp_path, "ascii", "second") == 1
    assert rollbacks_in(tmp_path, "runic", "main") == 0
