"""Read a run directory (checkpoints/<run>/) without Ray: pick the run, its state, events and promotions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fileio.atomic import copy_file_atomic
from settings.model import BUILTIN_TINY

RUN_STATE_FILE = "run_state.json"
RUN_CONFIG_FILE = "config.yaml"
"""The run's own copy of its config, made at its first start (Ray's working-dir copy is gone by morning)."""
DECISIONS_FILE = "decisions.jsonl"
PROMOTED_FILE = "promoted.json"
RAY_ADDRESS_FILE = "ray_address"
"""The address of the Ray cluster running the run, written by `overnight run` when it connects."""
EVENTS_DIR = "events"


class RunFileError(ValueError):
    """A run directory or one of its files cannot be used; the message names the path and what to do. A
    ValueError, as a damaged file's JSON error was before: code that handles bad values handles it too."""


@dataclass(frozen=True)
class RunInfo:
    """One run found under the output directory."""

    name: str
    path: Path
    updated_at: float
    status: str


@dataclass(frozen=True)
class JsonlContents:
    """The objects of a JSON-lines file, and the numbers of the complete lines that were not JSON objects."""

    records: list[dict[str, Any]]
    malformed_lines: list[int]


def read_jsonl(path: Path) -> JsonlContents:
    """Parse an append-only JSON-lines file that a writer may be appending to right now.

    A last line without its newline is a write in progress and is left out. A complete line that is not a
    JSON object (a crash mid-write followed by an append glues two halves together) is skipped and its
    number reported, so one damaged line never hides the rest of a night's log. A missing file is empty.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JsonlContents(records=[], malformed_lines=[])
    lines = data.split(b"\n")
    # The element after the last newline is either b"" or a torn line still being written.
    complete = lines[:-1]
    records: list[dict[str, Any]] = []
    malformed: list[int] = []
    for number, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        parsed = parse_json_object(raw)
        if parsed is None:
            malformed.append(number)
        else:
            records.append(parsed)
    return JsonlContents(records=records, malformed_lines=malformed)


def parse_json_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object encoded in `raw`, or None when it is not valid UTF-8 JSON or not an object."""
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise RunFileError(
            f"{path}: no {what} file; is this a run directory written by `overnight run`?"
        ) from err
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunFileError(
            f"{path}:{err.lineno}: {what} is not valid JSON ({err.msg}); "
            "it is written atomically, so the file was edited or copied partially: restore it or remove it."
        ) from err
    if not isinstance(parsed, dict):
        raise RunFileError(f"{path}: {what} must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _read_specialists_file(path: Path, what: str, entry: str) -> dict[str, Any]:
    """A JSON object file whose 'specialists' key, when present, is an object of name -> `entry`."""
    data = _read_json_object(path, what)
    specialists = data.get("specialists", {})
    if not isinstance(specialists, dict):
        raise RunFileError(
            f"{path}: key 'specialists' must be an object of name -> {entry}, "
            f"got {type(specialists).__name__}"
        )
    return data


def read_run_state(run_dir: Path) -> dict[str, Any]:
    """run_state.json as a plain dict; raises RunFileError naming the file when it is missing or damaged."""
    return _read_specialists_file(run_dir / RUN_STATE_FILE, "run state", "state")


def read_promoted(run_dir: Path) -> dict[str, Any] | None:
    """promoted.json as a plain dict whose 'specialists' is an object (name -> promotion; {} when the key is
    missing), or None while nothing has been promoted yet. The one reader of that file: a damaged one raises
    RunFileError naming it; `serving.routing.expert_table` checks each entry."""
    path = run_dir / PROMOTED_FILE
    if not path.exists():
        return None
    promoted = _read_specialists_file(path, "promotion list", "promotion")
    promoted.setdefault("specialists", {})
    return promoted


def events_path(run_dir: Path, specialist: str) -> Path:
    """Where the metric stream of one specialist lives."""
    return run_dir / EVENTS_DIR / f"{specialist}.jsonl"


def read_events(run_dir: Path, specialist: str) -> list[dict[str, Any]]:
    """The metric events of one specialist in write order; [] when it has none yet. See `read_jsonl`."""
    return read_jsonl(events_path(run_dir, specialist)).records


def event_specialists(run_dir: Path) -> list[str]:
    """Names of the specialists that have an events file, sorted."""
    events_dir = run_dir / EVENTS_DIR
    if not events_dir.is_dir():
        return []
    return sorted(path.stem for path in events_dir.glob("*.jsonl"))


def _updated_at(run_dir: Path) -> tuple[float, str] | None:
    """The update time and status of a run, or None when the directory holds no readable run state."""
    path = run_dir / RUN_STATE_FILE
    try:
        state = read_run_state(run_dir)
    except RunFileError:
        return None
    updated = state.get("updated_at")
    # A state copied between machines keeps its own clock; fall back to mtime only when the field is unusable.
    when = float(updated) if isinstance(updated, int | float) else path.stat().st_mtime
    return when, str(state.get("status", "unknown"))


def list_runs(output_dir: Path) -> list[RunInfo]:
    """The runs under `output_dir` that have a readable run_state.json, most recently updated first."""
    if not output_dir.is_dir():
        return []
    runs: list[RunInfo] = []
    for child in output_dir.iterdir():
        if not child.is_dir():
            continue
        found = _updated_at(child)
        if found is not None:
            runs.append(RunInfo(name=child.name, path=child, updated_at=found[0], status=found[1]))
    runs.sort(key=lambda info: (info.updated_at, info.name), reverse=True)
    return runs


def _available(output_dir: Path) -> str:
    names = [info.name for info in list_runs(output_dir)]
    return ", ".join(names) if names else "none"


def resolve_run_dir(output_dir: Path, run: str | None) -> Path:
    """The directory of run `run` under `output_dir`, or of the most recently updated run when `run` is None.

    `run` may also be a path to a run directory. Raises RunFileError listing the available runs.
    """
    if run is None:
        runs = list_runs(output_dir)
        if not runs:
            raise RunFileError(
                f"no runs in {output_dir} (no subdirectory has a run_state.json); start one with "
                "`overnight run`, or pass --output-dir where your runs are"
            )
        return runs[0].path
    candidate = output_dir / run
    if candidate.is_dir():
        return candidate
    as_path = Path(run)
    if as_path.is_dir() and (as_path / RUN_STATE_FILE).exists():
        return as_path
    raise RunFileError(f"no run {run!r} in {output_dir}; available runs: {_available(output_dir)}")


def keep_config_copy(run_dir: Path, config_path: Path) -> Path:
    """The run's own copy of its config (made on its first start), which the run state and report name:
    under `ray job submit` the given path lies in Ray's temporary working-dir copy, gone by morning."""
    run_dir.mkdir(parents=True, exist_ok=True)
    copy = run_dir / RUN_CONFIG_FILE
    if not copy.exists():
        copy_file_atomic(config_path, copy)
    return copy


def base_model_change(run_dir: Path, base_model: str) -> str | None:
    """Why a rerun must not resume this run directory: its first start trained on another base model
    (its checkpoints and adapters belong to that base). None for a new run, or the same base."""
    import yaml  # here: only `overnight run` asks, once

    copy = run_dir / RUN_CONFIG_FILE
    if not copy.is_file():
        return None
    recorded = (yaml.safe_load(copy.read_text(encoding="utf-8")) or {}).get("model", {}).get("base_model")
    recorded = recorded or BUILTIN_TINY  # the config model's default when the key is absent
    if recorded == base_model:
        return None
    return (
        f"{run_dir} was started on base_model {recorded!r}, and this config trains on {base_model!r}; "
        "resuming would put its checkpoints on another base. Pass --run-name NAME for a new run, or "
        f"remove {run_dir} to start this one over"
    )


def read_decisions(run_dir: Path) -> list[dict[str, Any]]:
    """The decision log as JSON-ready dicts, oldest first, outcomes merged in; [] before the first decision.

    Reads through `policies.decision_log.read_log`, so a torn final line is skipped and a damaged line
    raises DecisionLogError naming file:line.
    """
    # Imported here: `overnight status` never reads the log and should not pay for its pydantic models.
    from policies.decision_log import read_log

    return [record.model_dump(mode="json") for record in read_log(run_dir / DECISIONS_FILE)]
