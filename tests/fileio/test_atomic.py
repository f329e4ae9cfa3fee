"""fileio.atomic: whole files or the old ones, never half, and no temporary file left behind."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from fileio.atomic import copy_file_atomic, write_bytes_atomic, write_json_atomic, write_text_atomic


def test_each_write_replaces_the_whole_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.md"
    write_text_atomic(target, "a longer first version")
    write_text_atomic(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert [path.name for path in target.parent.iterdir()] == ["report.md"]


def test_a_failed_rename_keeps_the_old_content_and_removes_the_temporary_file(tmp_path: Path) -> None:
    # A non-empty folder cannot be replaced by a file: the rename fails after the data reached the disk.
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"data")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]
    assert [path.name for path in target.iterdir()] == ["inside"]


def test_a_payload_that_is_not_json_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": object()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["out.json"]


def test_without_make_parents_a_missing_folder_is_an_error_and_stays_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "gone" / "heartbeat.json", "{}", make_parents=False)
    assert not (tmp_path / "gone").exists()


def test_json_keeps_non_ascii_and_sorts_keys_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_json_atomic(target, {"b": "é", "a": 1}, sort_keys=True)
    assert target.read_text(encoding="utf-8") == '{\n  "a": 1,\n  "b": "é"\n}'
    write_json_atomic(target, {"b": 1, "a": 2})
    assert list(json.loads(target.read_text(encoding="utf-8"))) == ["b", "a"]


def test_a_copy_has_the_same_bytes_and_replaces_the_target(tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(b'{"x": 1}\n' * 10_000)
    source.chmod(0o640)
    target = tmp_path / "inbox" / "job.jsonl"
    copy_file_atomic(source, target)
    copy_file_atomic(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the source's, not mkstemp's private 0600
    assert [path.name for path in target.parent.iterdir()] == ["job.jsonl"]


def test_write_json_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    write_json_atomic(target, {"x": 1})
    write_json_atomic(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]
