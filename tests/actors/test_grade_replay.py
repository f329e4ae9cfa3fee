"""A regression rolling back before its own epoch: the replayed epoch is graded anew, not acted on again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import control.trainer_events
from control.grading import with_evidence
from tests.actors.inprocess import build, fast, log_lines, run_to_end
from tests.actors.run_configs import tiny_run_data


def regressing(*args: Any) -> Any:
    """The real evidence, with its verdict forced to "regressing" (a tiny model's exact match stays at 0,
    so a real regression beyond the intervals cannot be trained in seconds)."""
    window = with_evidence(*args)
    forced = window.evidence.model_copy(update={"verdict": "regressing", "reasons": ["forced by the test"]})
    return window.model_copy(update={"evidence": forced})


def test_a_replayed_epoch_is_graded_anew_but_not_acted_on_again(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control.trainer_events, "with_evidence", regressing)
    output_dir: Path = tmp_path_factory.mktemp("replay")
    # A regression rolls back to the best checkpoint, which (all exact matches 0) is the phase's first, before
    # the graded epoch: that epoch is trained and graded again.
    data = fast(tiny_run_data(output_dir, "replay", specialists=("ascii",), epochs=3))
    supervisor, workers, config = build(data)
    state = run_to_end(supervisor, workers)
    assert state["specialists"]["ascii"]["state"] == "finished"
    decisions = [line for line in log_lines(config.run_dir()) if line["kind"] == "decision"]
    assert len({line["decision_id"] for line in decisions}) == len(decisions)
    grades = [d for d in decisions if d["trigger"]["kind"] == "grade" and d["specialist"] == "ascii"]
    epochs = [line["epoch"] for line in grades]
    replayed = sorted({epoch for epoch in epochs if epochs.count(epoch) > 1})
    assert replayed, f"no epoch was graded twice: {epochs}"
    for epoch in replayed:
        first, *again = [line for line in grades if line["epoch"] == epoch]
        assert first["action"] == "rollback" and first["checkpoint"] == "best"
        for line in again:
            assert line["action"] == "continue"
            assert f"epoch {epoch + 1} was already acted on (rollback); not acted on again" in line["reason"]
    # The phase's last evaluation selects the best checkpoint instead of rolling back once more.
    assert grades[-1]["action"] == "select_best"
