"""Read and write corpus JSONL: the project's record shape and the seeds' prompt/output shape."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TASKS: tuple[str, ...] = (
    "convert", "parse", "validate", "transliterate", "diagnose", "hover", "complete", "rename",
    "format", "infer", "explain",
)
SEED_TASK = "unknown"
TRACKS: tuple[str, ...] = ("general", "ascii", "runic")
# Mirrors hlx.checker.CHECK_FORMATS; a test keeps the two in step without importing the checker here.
RECORD_FORMATS: tuple[str, ...] = (
    "hlxl", "lc-t", "lc-r", "lc-b", "hlxl-program", "hlx-program", "diagnostic", "text",
)
RECORD_KEYS: tuple[str, ...] = ("id", "instruction", "response", "task", "track", "format")
SEED_KEYS: tuple[str, ...] = ("input", "output")
ROUTING_KEYS: tuple[str, ...] = ("specialist", "split")
"""Optional on either shape, for inbox files: which specialist a record is for, and "train" or "val"."""
SPLITS: tuple[str, ...] = ("train", "val")
PROMPT_HEAD = "### Instruction:\n"
PROMPT_TAIL = "\n\n### Response:\n"
# One line of a shipped corpus is well under 2 KB; 8 MB leaves room for user corpora while keeping
# a corrupt or hostile file from being pulled into memory whole.
DEFAULT_MAX_LINE_BYTES = 8_000_000
_CHUNK = 1024 * 1024
# The training window of the tiny model; estimated_tokens never undercounts for byte-level tokenizers.
DEFAULT_MAX_TOKENS = 384
_SPACE = re.compile(r"\s+")


class CorpusError(ValueError):
    """A corpus file or line that cannot be used; str() names file:line and what to do."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, kind: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.kind = kind
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Example:
    """One training example: the prompt's instruction, the reference response and how to grade it."""

    id: str
    instruction: str
    response: str
    task: str
    track: str
    format: str

    def to_dict(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in RECORD_KEYS}


def prompt_text(instruction: str) -> str:
    """The seeds' training prompt for an instruction; the response and EOS follow it."""
    return f"{PROMPT_HEAD}{instruction}{PROMPT_TAIL}"


def canonical_instruction(instruction: str) -> str:
    """The instruction as compared for duplicates and leakage: whitespace runs collapsed, ends stripped."""
    return _SPACE.sub(" ", instruction).strip()


def estimated_tokens(example: Example) -> int:
    """Upper bound on tokens of the training text (prompt, response, EOS) for byte-level tokenizers.

    Byte-level BPE (GPT-2, Qwen) and byte tokenizers never use more than one token per UTF-8 byte,
    so this over-estimates for them; an LC-R glyph such as a 4-byte emoji counts as 4.
    """
    return len((prompt_text(example.instruction) + example.response).encode("utf-8")) + 1


def dumps_record(example: Example) -> str:
    """One JSONL line (no newline) in the project's fixed key order and separators."""
    return json.dumps(example.to_dict(), ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True)
class RawLine:
    """A physical line of a corpus file: its bytes, or only its length when it was over the cap."""

    number: int
    data: bytes | None
    length: int


def iter_raw_lines(path: Path, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[RawLine]:
    """Stream a file's lines; a line longer than the cap is measured but never held in memory."""
    with path.open("rb") as handle:
        number = 0
        while True:
            piece = handle.readline(max_line_bytes + 1)
            if not piece:
                return
            number += 1
            if len(piece) <= max_line_bytes or piece.endswith(b"\n"):
                yield RawLine(number, piece.rstrip(b"\r\n"), len(piece.rstrip(b"\r\n")))
                continue
            length = len(piece)
            while not piece.endswith(b"\n"):
                piece = handle.readline(_CHUNK)
                if not piece:
                    break
                length += len(piece)
            yield RawLine(number, None, length - (1 if piece.endswith(b"\n") else 0))


def _megabytes(length: int) -> str:
    return f"{length / 1_000_000:.1f} MB"


def decode_line(path: Path, raw: RawLine, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Example | None:
    """Turn one raw line into an Example; None for a blank line; CorpusError for anything unusable."""
    if raw.data is None:
        raise CorpusError(
            path, raw.number, "line_too_long",
            f"line {raw.number} is {_megabytes(raw.length)}, over the limit of {_megabytes(max_line_bytes)}; "
            "split or drop that record",
        )
    try:
        text = raw.data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            path, raw.number, "invalid_utf8",
            f"invalid UTF-8 at byte {err.start} of the line; re-save the file as UTF-8",
        ) from None
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        message = f"not JSON ({err.msg} at column {err.colno})"
        raise CorpusError(path, raw.number, "invalid_json", message) from None
    except RecursionError:
        raise CorpusError(path, raw.number, "invalid_json", "not usable JSON (nested too deeply)") from None
    return record_from_json(obj, path, raw.number)


def record_from_json(obj: object, path: str | os.PathLike[str], line: int) -> Example:
    """Accept either record shape and return the Example; CorpusError names the offending key."""
    if not isinstance(obj, dict):
        raise CorpusError(path, line, "unknown_shape", f"expected a JSON object, got {type(obj).__name__}")
    for key in ROUTING_KEYS:
        if key in obj:
            _require_text(obj, key, path, line)
    if "split" in obj:
        _require_choice(str(obj["split"]), "split", SPLITS, path, line)
    keys = set(obj) - set(ROUTING_KEYS)
    if keys == set(RECORD_KEYS):
        return _project_record(obj, path, line)
    if keys == set(SEED_KEYS):
        return _seed_record(obj, path, line)
    raise CorpusError(
        path, line, "unknown_shape",
        f"keys {sorted(keys)} match no known shape; expected {list(RECORD_KEYS)} "
        f"or the seeds' {list(SEED_KEYS)} (either may add {list(ROUTING_KEYS)})",
    )


def _require_text(obj: dict[str, object], key: str, path: str | os.PathLike[str], line: int) -> str:
    value = obj[key]
    if not isinstance(value, str):
        message = f"key {key!r} must be a string, got {type(value).__name__}"
        raise CorpusError(path, line, "bad_field", message)
    if not value.strip():
        message = f"key {key!r} is empty; give it a value or drop the record"
        raise CorpusError(path, line, "empty_field", message)
    return value


def _require_choice(value: str, key: str, allowed: tuple[str, ...], path: str | os.PathLike[str],
                    line: int) -> None:
    if value not in allowed:
        raise CorpusError(path, line, "bad_field", f"key {key!r} is {value!r}; allowed: {', '.join(allowed)}")


def _project_record(obj: dict[str, object], path: str | os.PathLike[str], line: int) -> Example:
    fields = {key: _require_text(obj, key, path, line) for key in RECORD_KEYS}
    _require_choice(fields["task"], "task", (*TASKS, SEED_TASK), path, line)
    _require_choice(fields["track"], "track", TRACKS, path, line)
    _require_choice(fields["format"], "format", RECORD_FORMATS, path, line)
    return Example(**fields)


def _seed_instruction(prompt: str) -> str | None:
    """The instruction inside the seeds' prompt, read leniently: any blank lines before the response header.
    A prompt with no template marker at all is a bare instruction (172 of the public seed records are).
    None when the prompt holds a template marker but does not follow the template.

    Plain string operations, not a regex, so a hostile 8 MB prompt costs linear time.
    """
    header = PROMPT_TAIL.strip("\n")
    if not prompt.startswith(PROMPT_HEAD):
        has_marker = PROMPT_HEAD.strip("\n") in prompt or header in prompt
        return None if has_marker else prompt.strip()
    body = prompt[len(PROMPT_HEAD):]
    if body.endswith("\n"):
        body = body[:-1]
    if not body.endswith(header):
        return None
    return body[:-len(header)].rstrip("\n")


def _seed_record(obj: dict[str, object], path: str | os.PathLike[str], line: int) -> Example:
    prompt = _require_text(obj, "input", path, line)
    output = _require_text(obj, "output", path, line)
    instruction = _seed_instruction(prompt)
    if instruction is None:
        raise CorpusError(
            path, line, "unknown_shape",
            "key 'input' has a '### Instruction:' or '### Response:' marker but does not follow the seeds' "
            "template '### Instruction:\\n<instruction>\\n\\n### Response:\\n'; give the whole template "
            "or the bare instruction",
        )
    if not instruction.strip():
        raise CorpusError(path, line, "empty_field", "the instruction inside key 'input' is empty")
    return Example(f"{Path(path).name}:{line}", instruction, output, SEED_TASK, "general", "text")


def check_readable(path: Path) -> None:
    """Raise CorpusError when the path is missing or not a regular file."""
    if not path.exists():
        message = "no such file; check the path or run `overnight corpus generate`"
        raise CorpusError(path, None, "missing", message)
    if not path.is_file():
        message = "is not a regular file (a directory?); name a .jsonl file"
        raise CorpusError(path, None, "not_a_file", message)


def read_corpus(path: str | os.PathLike[str], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[Example]:
    """Every Example of a JSONL corpus in order; CorpusError at the first unusable line or an empty file."""
    file_path = Path(path)
    check_readable(file_path)
    examples: list[Example] = []
    try:
        for raw in iter_raw_lines(file_path, max_line_bytes):
            example = decode_line(file_path, raw, max_line_bytes)
            if example is not None:
                examples.append(example)
    except OSError as err:
        raise CorpusError(file_path, None, "unreadable", f"cannot be read ({err.strerror})") from None
    if not examples:
        message = "holds no records; a corpus needs at least one JSONL line"
        raise CorpusError(file_path, None, "empty", message)
    return examples


def write_corpus(path: str | os.PathLike[str], examples: Iterable[Example]) -> None:
    """Write examples as JSONL atomically (temp file in the same directory, fsync, rename)."""
    # Not fileio.atomic: the HLX toolkit is a leaf that imports nothing else of the project (usable alone),
    # and a corpus streams to disk line by line instead of being built in memory first.
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for example in examples:
                handle.write(dumps_record(example))
                handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private; a corpus is shared data, so give it the usual mode.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
