"""Promotion: promoted.json keeps each specialist's best checkpoint, read through the one reader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from control.promotion import promote
from control.run_files import PROMOTED_FILE, RunFileError, read_promoted


def _checkpoint(run_dir: Path, name: str, state: dict[str, Any] | None = None) -> Path:
    path = run_dir / "ascii" / "main" / "checkpoints" / name
    path.mkdir(parents=True)
    (path / "state.json").write_text(json.dumps({"weights": "adapter", **(state or {})}), encoding="utf-8")
    return path


def _promote(run_dir: Path, checkpoint: Path, score: float | None, guarded: bool = False) -> bool:
    result = {"best_checkpoint": str(checkpoint), "best_exact_match": score}
    return promote(run_dir, "ascii", result, "ascii", "lora", run_dir / "base", guarded=guarded)


def test_a_lower_score_is_kept_out_unless_the_guard_compared_them(tmp_path: Path) -> None:
    first, second = _checkpoint(tmp_path, "ckpt-1"), _checkpoint(tmp_path, "ckpt-2")
    assert _promote(tmp_path, first, 0.5)
    assert not _promote(tmp_path, second, 0.4)
    assert not _promote(tmp_path, first, 0.9)  # the same checkpoint again changes nothing
    promoted = read_promoted(tmp_path)
    assert promoted is not None
    assert promoted["specialists"]["ascii"]["checkpoint"] == str(first)
    assert promoted["specialists"]["ascii"]["path"] == str(first / "adapter")
    assert promoted["coordinator"] == {"path": str(tmp_path / "base"), "kind": "base"}
    assert _promote(tmp_path, second, 0.4, guarded=True)
    assert read_promoted(tmp_path)["specialists"]["ascii"]["checkpoint"] == str(second)  # type: ignore[index]


def test_with_no_base_given_the_coordinator_is_the_base_the_checkpoint_records(tmp_path: Path) -> None:
    recorded = tmp_path / "bases" / "foundation-0123" / "model"
    checkpoint = _checkpoint(tmp_path, "ckpt-1", {"base_dir": str(recorded)})
    result = {"best_checkpoint": str(checkpoint), "best_exact_match": 0.5}
    assert promote(tmp_path, "ascii", result, "ascii", "lora", None)
    assert (read_promoted(tmp_path) or {})["coordinator"] == {"path": str(recorded), "kind": "base"}
    # A base given (a job's: the one its promoted checkpoint was served on) is the one served.
    second = _checkpoint(tmp_path, "ckpt-2", {"base_dir": str(recorded)})
    result = {"best_checkpoint": str(second), "best_exact_match": 0.6}
    assert promote(tmp_path, "ascii", result, "ascii", "lora", tmp_path / "given")
    assert (read_promoted(tmp_path) or {})["coordinator"] == {"path": str(tmp_path / "given"), "kind": "base"}


@pytest.mark.parametrize(
    "state", [{}, {"base_dir": ""}, {"base_dir": None}], ids=["missing", "empty", "null"]
)
def test_a_checkpoint_that_records_no_base_is_refused_and_nothing_is_promoted(
    tmp_path: Path, state: dict[str, Any]
) -> None:
    checkpoint = _checkpoint(tmp_path, "ckpt-1", state)
    result = {"best_checkpoint": str(checkpoint), "best_exact_match": 0.5}
    recorded = state.get("base_dir")
    expected = f"{checkpoint / 'state.json'} records no base_dir (got {recorded!r}): the base it was trained"
    with pytest.raises(ValueError, match=re.escape(expected)):
        promote(tmp_path, "ascii", result, "ascii", "lora", None)
    assert read_promoted(tmp_path) is None


def test_a_damaged_promotion_list_is_named_and_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / PROMOTED_FILE).write_text('{"specialists": ', encoding="utf-8")
    with pytest.raises(RunFileError, match=r"promoted\.json:1: promotion list is not valid JSON"):
        _promote(tmp_path, _checkpoint(tmp_path, "ckpt-1"), 0.5)
    # A ValueError, as the JSON error was: the job queue's promotion step still reports it as a failure.
    assert issubclass(RunFileError, ValueError)
    assert (tmp_path / PROMOTED_FILE).read_text(encoding="utf-8") == '{"specialists": '


def test_the_reader_checks_the_specialists_object(tmp_path: Path) -> None:
    (tmp_path / PROMOTED_FILE).write_text('{"coordinator": {"path": "/base"}}', encoding="utf-8")
    assert read_promoted(tmp_path) == {"coordinator": {"path": "/base"}, "specialists": {}}
    (tmp_path / PROMOTED_FILE).write_text('{"specialists": ["ascii"]}', encoding="utf-8")
    with pytest.raises(RunFileError, match="'specialists' must be an object of name -> promotion, got list"):
        read_promoted(tmp_path)
