"""run_state.json round-trips atomically and a damaged one fails with advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control.run_state import RunState, SpecialistState, load_run_state, save_run_state, write_json_atomic


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    state = RunState(run="night1", config_path="configs/demo.yaml")
    state.specialists["ascii"] = SpecialistState(state="running", phase="phase2", epoch=3, lr=1e-3,
                                                 fired_faults=["phase2:nan_at_step"],
                                                 fault_decisions={"phase2:nan:12": "d-1"})
    save_run_state(tmp_path, state)
    loaded = load_run_state(tmp_path)
    assert loaded is not None
    assert loaded.specialists["ascii"].fired_faults == ["phase2:nan_at_step"]
    assert loaded.specialists["ascii"].fault_decisions == {"phase2:nan:12": "d-1"}
    assert loaded.unfinished() == ["ascii"]


def test_missing_state_means_a_new_run(tmp_path: Path) -> None:
    assert load_run_state(tmp_path) is None


def test_damaged_state_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "run_state.json").write_text('{"run": "x", "config_path": ')
    with pytest.raises(RuntimeError, match=r"run_state\.json is not a valid run state.*--run-name"):
        load_run_state(tmp_path)


def test_atomic_write_leaves_no_temp_files_and_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_write_keeps_the_old_file_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
