"""Validate corpus files: shape, length budget, duplicates, train/val leakage and parseable references."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hlx.checker import check
from hlx.corpus_io import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_TOKENS,
    CorpusError,
    Example,
    canonical_instruction,
    check_readable,
    decode_line,
    estimated_tokens,
    iter_raw_lines,
)

SPLIT_FILES = ("train.jsonl", "val.jsonl")
WARNING_KINDS = frozenset({"duplicate", "duplicate_id", "leakage", "too_long"})
"""Problem kinds a run or an inbox warns about instead of refusing the data."""
# Past this many stored problems per file only the counts grow, so a wholly broken file cannot exhaust memory.
MAX_LISTED_PROBLEMS = 10_000


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a corpus, located at file:line (line None for the file as a whole)."""

    path: str
    line: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: [{self.kind}] {self.message}"


@dataclass
class FileSummary:
    """Counts for one corpus file: records read, errors by kind, and the task/track/format balance."""

    path: str
    records: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    tracks: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class ValidationReport:
    """Everything validate_paths found; exit_code follows the CLI contract (0 no errors, warnings alone
    included; 1 errors; 2 a path is unusable)."""

    problems: tuple[Problem, ...]
    files: tuple[FileSummary, ...]
    unusable_paths: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unusable_paths

    @property
    def error_count(self) -> int:
        return sum(sum(summary.errors.values()) for summary in self.files)

    @property
    def blocking(self) -> list[Problem]:
        """Problems that make the data unusable; the WARNING_KINDS are worth a warning only (the recipe
        reports and handles overlong examples itself)."""
        return [p for p in (*self.unusable_paths, *self.problems) if p.kind not in WARNING_KINDS]

    @property
    def warning_count(self) -> int:
        """Problems of the WARNING_KINDS (duplicates, leakage, overlong), counted past the list cap."""
        return sum(count for s in self.files for kind, count in s.errors.items() if kind in WARNING_KINDS)

    @property
    def exit_code(self) -> int:
        if self.unusable_paths:
            return 2
        return 1 if self.error_count > self.warning_count else 0


def _corpus_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.jsonl") if path.is_file())


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Problem]]:
    """Resolve each PATH to files: a file, a corpus dir of *.jsonl, or a root of corpus dirs."""
    files: list[Path] = []
    unusable: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = _corpus_files(path)
            if not found:
                children = [child for child in sorted(path.iterdir()) if child.is_dir()]
                found = [file for child in children for file in _corpus_files(child)]
            if not found:
                unusable.append(Problem(str(path), None, "no_corpus",
                                        "directory holds no *.jsonl files, directly or one level down"))
            files.extend(found)
            continue
        try:
            check_readable(path)
        except CorpusError as err:
            unusable.append(Problem(str(path), None, err.kind, err.message))
            continue
        files.append(path)
    unique = list(dict.fromkeys(files))
    return unique, unusable


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class _FileChecker:
    """Accumulates the problems of one file; keeps instruction digests for duplicate and leakage checks."""

    def __init__(self, path: Path, max_tokens: int, check_references: bool) -> None:
        self.path = path
        self.max_tokens = max_tokens
        self.check_references = check_references
        self.summary = FileSummary(str(path))
        self.problems: list[Problem] = []
        self.instructions: dict[bytes, int] = {}
        self.ids: dict[str, int] = {}

    def add(self, line: int | None, kind: str, message: str) -> None:
        self.summary.errors[kind] += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(Problem(str(self.path), line, kind, message))

    def example(self, line: int, example: Example) -> None:
        summary = self.summary
        summary.records += 1
        summary.tasks[example.task] += 1
        summary.tracks[example.track] += 1
        summary.formats[example.format] += 1
        tokens = estimated_tokens(example)
        if tokens > self.max_tokens:
            self.add(line, "too_long",
                     f"about {tokens} tokens (UTF-8 bytes of prompt+response+EOS), over the budget of "
                     f"{self.max_tokens}; shorten the example or raise --max-tokens")
        digest = _digest(canonical_instruction(example.instruction))
        first = self.instructions.setdefault(digest, line)
        if first != line:
            self.add(line, "duplicate", f"instruction duplicates line {first} (after collapsing whitespace)")
        first_id = self.ids.setdefault(example.id, line)
        if first_id != line:
            self.add(line, "duplicate_id", f"id {example.id!r} already used on line {first_id}")
        if self.check_references and example.format != "text":
            verdict = check(example.response, example.response, example.format)
            if not verdict.valid:
                self.add(line, "bad_reference",
                         f"the response does not parse as format {example.format!r}: {verdict.error}")

    def run(self, max_line_bytes: int) -> None:
        try:
            for raw in iter_raw_lines(self.path, max_line_bytes):
                try:
                    example = decode_line(self.path, raw, max_line_bytes)
                except CorpusError as err:
                    self.add(raw.number, err.kind, err.message)
                    continue
                if example is not None:
                    self.example(raw.number, example)
        except OSError as err:
            self.add(None, "unreadable", f"cannot be read ({err.strerror})")
            return
        if self.summary.records == 0 and not self.summary.errors:
            self.add(None, "empty", "holds no records; a corpus needs at least one JSONL line")


def _leakage(train: _FileChecker, val: _FileChecker) -> None:
    for digest, line in val.instructions.items():
        train_line = train.instructions.get(digest)
        if train_line is not None:
            val.add(line, "leakage", f"instruction also appears in {train.path}:{train_line}")


def validate_paths(
    paths: Sequence[str | os.PathLike[str]],
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    check_references: bool = True,
) -> ValidationReport:
    """Validate every corpus file under the given paths; never raises on bad data, reports it."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files, unusable = expand_paths(paths)
    checkers = [_FileChecker(path, max_tokens, check_references) for path in files]
    for checker in checkers:
        checker.run(max_line_bytes)
    by_dir: dict[Path, dict[str, _FileChecker]] = {}
    for checker in checkers:
        if checker.path.name in SPLIT_FILES:
            by_dir.setdefault(checker.path.resolve().parent, {})[checker.path.name] = checker
    for splits in by_dir.values():
        if len(splits) == len(SPLIT_FILES):
            _leakage(splits["train.jsonl"], splits["val.jsonl"])
    problems = tuple(
        problem for checker in checkers for problem in sorted(checker.problems, key=lambda p: p.line or 0)
    )
    return ValidationReport(problems, tuple(checker.summary for checker in checkers), tuple(unusable))
