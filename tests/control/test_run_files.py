"""Tests for reading a run directory: torn and damaged JSON lines, run state, promotions, picking a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from control.run_files import (
    RunFileError,
    base_model_change,
    event_specialists,
    keep_config_copy,
    list_runs,
    read_events,
    read_jsonl,
    read_promoted,
    read_run_state,
    resolve_run_dir,
)
from tests.actors.fixtures_run import write_fake_run


def _state(run: str, updated_at: float | None) -> dict[str, object]:
    state: dict[str, object] = {"run": run, "status": "running", "specialists": {}}
    if updated_at is not None:
        state["updated_at"] = updated_at
    return state


def _make_run(root: Path, name: str, updated_at: float | None) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "run_state.json").write_text(json.dumps(_state(name, updated_at)), encoding="utf-8")
    return run_dir


def test_read_jsonl_leaves_out_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n{"n": ')
    contents = read_jsonl(path)
    assert contents.records == [{"n": 1}, {"n": 2}]
    assert contents.malformed_lines == []


def test_read_jsonl_skips_and_numbers_damaged_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    # Line 2: a crash mid-write glued to the next append; line 4: JSON but not an object; line 5: not UTF-8.
    path.write_bytes(b'{"n": 1}\n{"n": {"n": 2}\n\n[1, 2]\n\xff\xfe\n{"n": 3}\n')
    contents = read_jsonl(path)
    assert contents.records == [{"n": 1}, {"n": 3}]
    assert contents.malformed_lines == [2, 4, 5]


def test_read_jsonl_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    contents = read_jsonl(tmp_path / "absent.jsonl")
    assert (contents.records, contents.malformed_lines) == ([], [])


def test_read_events_of_the_fixture_ignores_the_line_being_written(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    for name in fake.specialists:
        events = read_events(fake.run_dir, name)
        assert sum(1 for event in events if event["type"] == "step") == fake.step_events[name]
        assert [e for e in events if e["type"] == "grade"] == fake.grades[name]
    assert read_events(fake.run_dir, "nobody") == []
    assert event_specialists(fake.run_dir) == ["ascii", "runic"]


def test_read_run_state_and_promoted_of_the_fixture(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    state = read_run_state(fake.run_dir)
    assert state["run"] == fake.run
    assert list(state["specialists"]) == list(fake.specialists)
    promoted = read_promoted(fake.run_dir)
    assert promoted is not None
    assert promoted["specialists"]["ascii"]["exact_match"] == fake.best_exact_match["ascii"]


def test_read_promoted_is_none_before_any_promotion(tmp_path: Path) -> None:
    assert read_promoted(tmp_path) is None


def test_read_run_state_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match=r"run_state\.json: no run state file; is this a run directory"):
        read_run_state(tmp_path)
    (tmp_path / "run_state.json").write_text('{"run": "x",\n  "status": }', encoding="utf-8")
    with pytest.raises(RunFileError, match=r"run_state\.json:2: run state is not valid JSON"):
        read_run_state(tmp_path)
    (tmp_path / "run_state.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(RunFileError, match="run state must be a JSON object, got list"):
        read_run_state(tmp_path)
    (tmp_path / "run_state.json").write_text('{"specialists": [1]}', encoding="utf-8")
    with pytest.raises(RunFileError, match="key 'specialists' must be an object of name -> state, got list"):
        read_run_state(tmp_path)


def test_list_runs_is_newest_first_and_skips_directories_without_state(tmp_path: Path) -> None:
    _make_run(tmp_path, "old", 100.0)
    _make_run(tmp_path, "new", 300.0)
    _make_run(tmp_path, "middle", 200.0)
    (tmp_path / "stray").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run_state.json").write_text("{", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a run", encoding="utf-8")
    assert [info.name for info in list_runs(tmp_path)] == ["new", "middle", "old"]
    assert list_runs(tmp_path / "absent") == []


def test_list_runs_falls_back_to_mtime_without_updated_at(tmp_path: Path) -> None:
    stamped = _make_run(tmp_path, "stamped", 1_000.0)
    unstamped = _make_run(tmp_path, "unstamped", None)
    os.utime(unstamped / "run_state.json", (5_000.0, 5_000.0))
    runs = list_runs(tmp_path)
    assert [(info.name, info.updated_at) for info in runs] == [("unstamped", 5_000.0), ("stamped", 1_000.0)]
    assert runs[1].path == stamped


def test_resolve_run_dir_picks_the_latest_a_name_or_a_path(tmp_path: Path) -> None:
    old = _make_run(tmp_path, "old", 100.0)
    new = _make_run(tmp_path, "new", 200.0)
    assert resolve_run_dir(tmp_path, None) == new
    assert resolve_run_dir(tmp_path, "old") == old
    assert resolve_run_dir(tmp_path / "elsewhere", str(old)) == old


def test_resolve_run_dir_errors_list_the_available_runs(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match=r"no runs in .* \(no subdirectory has a run_state\.json\)"):
        resolve_run_dir(tmp_path, None)
    with pytest.raises(RunFileError, match=r"no run 'nope' in .*; available runs: none"):
        resolve_run_dir(tmp_path, "nope")
    _make_run(tmp_path, "a", 1.0)
    _make_run(tmp_path, "b", 2.0)
    with pytest.raises(RunFileError, match=r"no run 'nope' in .*; available runs: b, a$"):
        resolve_run_dir(tmp_path, "nope")


def test_the_run_keeps_its_own_copy_of_the_config(tmp_path: Path) -> None:
    given = tmp_path / "runtime_resources" / "working_dir" / "night.yaml"  # Ray's copy, gone by morning
    given.parent.mkdir(parents=True)
    given.write_text("run: {name: night}\n")
    run_dir = tmp_path / "checkpoints" / "night"
    copy = keep_config_copy(run_dir, given)
    assert copy == run_dir / "config.yaml"
    assert copy.read_text() == "run: {name: night}\n"
    given.unlink()
    assert keep_config_copy(run_dir, given) == copy, "a rerun (resume) keeps the night's first copy"
    assert copy.read_text() == "run: {name: night}\n"


@pytest.mark.parametrize(
    ("recorded_model", "base_model", "refused"),
    [
        ("model:\n  base_model: builtin:tiny\n", "builtin:hlx", True),
        ("run:\n  name: demo\n", "builtin:hlx", True),  # no model key: it trained on builtin:tiny
        ("run:\n  name: demo\n", "builtin:tiny", False),
        ("model:\n  base_model: builtin:hlx\n", "builtin:hlx", False),
        (None, "builtin:hlx", False),  # a new run
    ],
)
def test_a_rerun_on_another_base_model_is_refused(
    tmp_path: Path, recorded_model: str | None, base_model: str, refused: bool
) -> None:
    if recorded_model is not None:
        (tmp_path / "config.yaml").write_text(recorded_model)
    problem = base_model_change(tmp_path, base_model)
    if not refused:
        assert problem is None
        return
    assert problem == (
        f"{tmp_path} was started on base_model 'builtin:tiny', and this config trains on 'builtin:hlx'; "
        "resuming would put its checkpoints on another base. Pass --run-name NAME for a new run, or "
        f"remove {tmp_path} to start this one over"
    )
