"""Tests for the corpus validator: every problem kind, located at file:line, and hostile inputs survived."""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlx.corpus_io import Example, dumps_record, prompt_text, write_corpus
from hlx.corpus_validate import validate_paths


def _example(index: int, instruction: str | None = None, response: str = "[1, 2]", fmt: str = "hlxl",
             task: str = "convert") -> Example:
    text = instruction or f"Convert to HLXL: [1,{index}]"
    return Example(f"t/{index:06d}", text, response, task, "ascii", fmt)


def _corpus(directory: Path, train: list[Example], val: list[Example]) -> Path:
    write_corpus(directory / "train.jsonl", train)
    write_corpus(directory / "val.jsonl", val)
    return directory


def _kinds(report) -> list[tuple[str, int | None, str]]:  # type: ignore[no-untyped-def]
    return [(Path(problem.path).name, problem.line, problem.kind) for problem in report.problems]


def test_clean_corpus_passes(tmp_path: Path) -> None:
    _corpus(tmp_path / "c", [_example(i) for i in range(3)], [_example(9)])
    report = validate_paths([tmp_path / "c"])
    assert report.ok and report.exit_code == 0
    assert [summary.records for summary in report.files] == [3, 1]
    assert report.files[0].tasks == {"convert": 3}


def test_duplicates_leakage_and_ids(tmp_path: Path) -> None:
    train = [_example(1), _example(2, "Convert  to HLXL:\t[1,1] "), _example(1, "Convert to HLXL: [7]")]
    val = [_example(5, "Convert to HLXL:   [1,1]")]
    _corpus(tmp_path / "c", train, val)
    report = validate_paths([tmp_path / "c"])
    assert _kinds(report) == [
        ("train.jsonl", 2, "duplicate"),
        ("train.jsonl", 3, "duplicate_id"),
        ("val.jsonl", 1, "leakage"),
    ]
    assert "instruction duplicates line 1" in str(report.problems[0])
    assert str(report.problems[2]).endswith("train.jsonl:1")
    assert (report.warning_count, report.exit_code) == (3, 0)  # warnings alone pass


def test_warnings_alone_exit_0_and_one_error_among_them_exits_1(tmp_path: Path) -> None:
    write_corpus(tmp_path / "a.jsonl", [_example(1), _example(1), _example(2)])
    warned = validate_paths([tmp_path / "a.jsonl"], max_tokens=10)
    kinds = [p.kind for p in warned.problems]
    assert kinds == ["too_long", "too_long", "duplicate", "duplicate_id", "too_long"]
    assert (warned.error_count, warned.warning_count, warned.exit_code) == (5, 5, 0)
    with (tmp_path / "a.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("{oops\n")
    failed = validate_paths([tmp_path / "a.jsonl"], max_tokens=10)
    assert (failed.error_count, failed.warning_count, failed.exit_code) == (6, 5, 1)


def test_seed_records_with_bare_instructions_validate(tmp_path: Path) -> None:
    lines = [{"input": "HLXL: null", "output": "LC-R: ∅"}, {"input": prompt_text("Say hi"), "output": "hi"}]
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = validate_paths([path])
    assert (report.problems, report.exit_code, report.files[0].records) == ((), 0, 2)


def test_only_problems_beyond_warnings_block(tmp_path: Path) -> None:
    train = [_example(1), _example(2, "Convert  to HLXL:\t[1,1] ")]
    _corpus(tmp_path / "c", train, [_example(5, "Convert to HLXL: [1,1]")])
    assert validate_paths([tmp_path / "c"]).blocking == []  # a duplicate and a leak only warn
    (tmp_path / "c" / "train.jsonl").write_text("{oops\n")
    report = validate_paths([tmp_path / "c", tmp_path / "missing.jsonl"])
    assert [(Path(p.path).name, p.kind) for p in report.blocking] == [
        ("missing.jsonl", "missing"),
        ("train.jsonl", "invalid_json"),
    ]


def test_token_budget_counts_utf8_bytes(tmp_path: Path) -> None:
    short = _example(1, "Convert to LC-R: [1]", "🐃1🐄", "lc-r")
    budget = len((prompt_text(short.instruction) + short.response).encode()) + 1
    write_corpus(tmp_path / "a.jsonl", [short])
    assert validate_paths([tmp_path / "a.jsonl"], max_tokens=budget).ok
    report = validate_paths([tmp_path / "a.jsonl"], max_tokens=budget - 1)
    assert _kinds(report) == [("a.jsonl", 1, "too_long")]
    assert f"about {budget} tokens" in report.problems[0].message


def test_bad_reference_is_reported(tmp_path: Path) -> None:
    examples = [_example(1, response="[1, 2"), _example(2, response="free words", fmt="text")]
    write_corpus(tmp_path / "a.jsonl", examples)
    report = validate_paths([tmp_path / "a.jsonl"])
    assert _kinds(report) == [("a.jsonl", 1, "bad_reference")]
    assert "does not parse as format 'hlxl'" in report.problems[0].message


def test_every_bad_line_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    lines = [
        dumps_record(_example(1)).encode(),
        b"\xff\xfe not utf-8",
        b"{not json",
        json.dumps({"input": "x"}).encode(),
        json.dumps({**_example(2).to_dict(), "response": ""}).encode(),
        b"",
        json.dumps({"input": prompt_text("seed task"), "output": "answer"}).encode(),
    ]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    report = validate_paths([tmp_path / "a.jsonl"])
    assert _kinds(report) == [
        ("a.jsonl", 2, "invalid_utf8"),
        ("a.jsonl", 3, "invalid_json"),
        ("a.jsonl", 4, "unknown_shape"),
        ("a.jsonl", 5, "empty_field"),
    ]
    assert report.files[0].records == 2
    assert report.files[0].tasks == {"convert": 1, "unknown": 1}


def test_huge_line_is_streamed_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("wb") as handle:
        handle.write(dumps_record(_example(1)).encode() + b"\n")
        handle.write(b'{"id": "')
        for _ in range(20):
            handle.write(b"x" * 1_000_000)
        handle.write(b'"}\n')
        handle.write(dumps_record(_example(2)).encode() + b"\n")
    report = validate_paths([path], max_line_bytes=2_000_000)
    assert _kinds(report) == [("big.jsonl", 2, "line_too_long")]
    assert "line 2 is 20.0 MB, over the limit of 2.0 MB" in report.problems[0].message
    assert report.files[0].records == 2


def test_unusable_paths_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty_dir").mkdir()
    report = validate_paths([tmp_path / "missing.jsonl", tmp_path / "empty_dir"])
    assert report.exit_code == 2
    assert [(Path(p.path).name, p.kind) for p in report.unusable_paths] == [
        ("missing.jsonl", "missing"), ("empty_dir", "no_corpus"),
    ]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"\n\n")
    report = validate_paths([tmp_path / "e.jsonl"])
    assert _kinds(report) == [("e.jsonl", None, "empty")]
    assert report.exit_code == 1


def test_root_of_corpora_expands_to_every_split(tmp_path: Path) -> None:
    _corpus(tmp_path / "one", [_example(1)], [_example(2)])
    _corpus(tmp_path / "two", [_example(1)], [_example(1)])
    report = validate_paths([tmp_path])
    assert [Path(summary.path).relative_to(tmp_path).as_posix() for summary in report.files] == [
        "one/train.jsonl", "one/val.jsonl", "two/train.jsonl", "two/val.jsonl",
    ]
    assert _kinds(report) == [("val.jsonl", 1, "leakage")]


@pytest.mark.parametrize("count", [12_000])
def test_listed_problems_are_capped_but_counted(tmp_path: Path, count: int) -> None:
    (tmp_path / "bad.jsonl").write_bytes(b"{\n" * count)
    report = validate_paths([tmp_path / "bad.jsonl"])
    assert len(report.problems) == 10_000
    assert report.error_count == count


def test_a_200_mb_line_is_reported_without_loading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    chunk = b"x" * 1_000_000
    with path.open("wb") as handle:
        handle.write(b'{"id": "')
        for _ in range(200):
            handle.write(chunk)
        handle.write(b'"}\n')
    tracemalloc.start()
    try:
        report = validate_paths([path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        path.unlink()
    assert _kinds(report) == [("huge.jsonl", 1, "line_too_long")]
    assert "line 1 is 200.0 MB, over the limit of 8.0 MB" in report.problems[0].message
    assert peak < 40_000_000


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_give_a_report_never_an_exception(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "train.jsonl"
        path.write_bytes(data)
        report = validate_paths([path])
    assert report.exit_code in (0, 1)
    assert all(problem.line is None or problem.line >= 1 for problem in report.problems)


_FIELD = st.text(max_size=30)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(st.fixed_dictionaries({
    "id": _FIELD, "instruction": _FIELD, "response": _FIELD,
    "task": st.sampled_from(["convert", "hover", "x"]), "track": st.sampled_from(["ascii", "runic", ""]),
    "format": st.sampled_from(["hlxl", "lc-r", "lc-b", "hlx-program", "diagnostic", "text", "yaml"]),
}), max_size=5))
def test_any_records_give_a_report_never_an_exception(records: list[dict[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.jsonl"
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
        report = validate_paths([path])
    assert report.exit_code in (0, 1)
    assert report.files[0].records <= len(records)
