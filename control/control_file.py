"""`overnight ctl` without Ray: control requests and the supervisor's heartbeat as files in the run directory.

The CLI writes `<run>/control/<request id>.json` atomically; the supervisor's watcher thread
(actors/control_watcher.py) polls that folder, applies each request once (its decision is keyed by the
request id, so a restarted supervisor that finds the file again does not act twice), writes the answer to
`<run>/control/done/<request id>.json` and removes the request. The same thread stamps
`<run>/supervisor_heartbeat.json`, so `overnight status` can tell a live run from one whose actors are gone,
without asking Ray.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from control.run_files import RunFileError, list_runs, parse_json_object, read_run_state, resolve_run_dir
from fileio.atomic import write_text_atomic

CONTROL_DIR = "control"
DONE_DIR = "done"
HEARTBEAT_FILE = "supervisor_heartbeat.json"
SPECIALIST_CONTROLS = ("pause", "resume", "stop", "skip")
STOP_RUN = "stop-run"
CONTROLS = (*SPECIALIST_CONTROLS, STOP_RUN)
POLL_S = 0.2
"""How often the watcher looks for requests: well inside `ctl`'s 2 s to take effect."""
HEARTBEAT_EVERY_S = 1.0
STALE_AFTER_S = 10.0
"""A running run whose supervisor has not stamped its heartbeat for longer than this is reported stale."""


class ControlRequestError(ValueError):
    """A control request that cannot be applied; its message is the answer the CLI prints."""


@dataclass(frozen=True)
class ControlRequest:
    """One `overnight ctl` call: what to do, to which specialist (None for the whole run), asked when."""

    id: str
    action: str
    specialist: str | None
    time: float

    @classmethod
    def new(cls, action: str, specialist: str | None) -> ControlRequest:
        if action not in CONTROLS:
            raise ControlRequestError(f"unknown control {action!r}; use {', '.join(CONTROLS)}")
        if (specialist is None) != (action == STOP_RUN):
            need = "takes no specialist" if action == STOP_RUN else "needs a specialist"
            raise ControlRequestError(f"control {action!r} {need}")
        # Sortable by time, unique across concurrent CLIs.
        return cls(id=f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}", action=action,
                   specialist=specialist, time=time.time())  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControlRequest:
        try:
            request = cls(id=str(data["id"]), action=str(data["action"]),
                          specialist=data.get("specialist"), time=float(data["time"]))  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise ControlRequestError(f"malformed control request {data!r}: {err}") from err
        if request.action not in CONTROLS:
            raise ControlRequestError(f"unknown control {request.action!r}; use {', '.join(CONTROLS)}")
        return request


def control_dir(run_dir: Path) -> Path:
    return run_dir / CONTROL_DIR


def result_path(run_dir: Path, request_id: str) -> Path:
    return control_dir(run_dir) / DONE_DIR / f"{request_id}.json"


def write_request(run_dir: Path, request: ControlRequest) -> Path:
    """Hand a request to the run's supervisor (atomically: it sees the whole file or none)."""
    path = control_dir(run_dir) / f"{request.id}.json"
    write_text_atomic(path, json.dumps(asdict(request)))
    return path


def pending_requests(run_dir: Path) -> list[tuple[Path, ControlRequest | ControlRequestError]]:
    """The waiting requests, oldest first; an unreadable file comes with the error that explains it."""
    folder = control_dir(run_dir)
    if not folder.is_dir():
        return []
    found: list[tuple[Path, ControlRequest | ControlRequestError]] = []
    # Temporary files of a write in progress start with a dot and are not requests yet.
    for path in sorted(folder.glob("[!.]*.json")):
        try:
            data = parse_json_object(path.read_bytes())
        except FileNotFoundError:
            continue  # answered by another poll meanwhile
        if data is None:
            found.append((path, ControlRequestError(f"{path}: not a JSON object")))
            continue
        try:
            found.append((path, ControlRequest.from_dict(data)))
        except ControlRequestError as err:
            found.append((path, err))
    return found


def write_result(run_dir: Path, request_id: str, result: dict[str, Any]) -> None:
    write_text_atomic(result_path(run_dir, request_id), json.dumps({"request_id": request_id, **result}))


def read_result(run_dir: Path, request_id: str) -> dict[str, Any] | None:
    try:
        return parse_json_object(result_path(run_dir, request_id).read_bytes())
    except FileNotFoundError:
        return None


def wait_for_result(run_dir: Path, request_id: str, timeout_s: float, poll_s: float = 0.05) -> dict | None:
    """The supervisor's answer to a request, or None when it did not come within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = read_result(run_dir, request_id)
        if result is not None or time.monotonic() >= deadline:
            return result
        time.sleep(poll_s)


# ------------------------------------------------------------------------------------------- liveness


def write_heartbeat(run_dir: Path, run: str, now: float | None = None) -> None:
    payload = {"run": run, "pid": os.getpid(), "time": time.time() if now is None else now}
    # Never creates the run directory: a removed run must stay removed, not come back as a heartbeat.
    write_text_atomic(run_dir / HEARTBEAT_FILE, json.dumps(payload), make_parents=False)


def supervisor_seen_at(run_dir: Path, state: dict[str, Any]) -> float | None:
    """When the run's supervisor last showed life: its heartbeat file, or the run state's update time."""
    seen: list[float] = []
    try:
        beat = parse_json_object((run_dir / HEARTBEAT_FILE).read_bytes())
    except FileNotFoundError:
        beat = None
    if beat is not None and isinstance(beat.get("time"), int | float):
        seen.append(float(beat["time"]))
    if isinstance(state.get("updated_at"), int | float):
        seen.append(float(state["updated_at"]))
    return max(seen) if seen else None


def staleness(status: str, seen_at: float | None, now: float, limit_s: float = STALE_AFTER_S) -> str | None:
    """`stale: supervisor not seen for 42 s` when a run says running but nobody keeps it; else None."""
    if status != "running":
        return None
    if seen_at is None:
        return "stale: supervisor never seen"
    silence = now - seen_at
    if silence <= limit_s:
        return None
    return f"stale: supervisor not seen for {silence:.0f} s"


def live_run(output_dir: Path, run: str | None) -> tuple[Path, dict[str, Any]] | str:
    """The run a control is for, with its state: the named one if its supervisor is live, else the only
    live run; otherwise why not (never a guess between two live runs)."""
    now = time.time()

    def why_not(run_dir: Path, state: dict[str, Any]) -> str | None:
        if state.get("status") != "running":
            return f"run {run_dir.name} is {state.get('status')}; controls act on a running night"
        return staleness("running", supervisor_seen_at(run_dir, state), now)

    if run is not None:
        try:
            run_dir = resolve_run_dir(output_dir, run)
            state = read_run_state(run_dir)
        except RunFileError as err:
            return str(err)
        problem = why_not(run_dir, state)
        return (run_dir, state) if problem is None else f"run {run_dir.name}: {problem}"
    live = []
    for info in list_runs(output_dir):
        try:
            state = read_run_state(info.path)
        except RunFileError:
            continue
        if why_not(info.path, state) is None:
            live.append((info.path, state))
    if len(live) == 1:
        return live[0]
    if not live:
        return f"no live run in {output_dir} (`overnight run` starts one; `overnight status` shows others)"
    names = ", ".join(run_dir.name for run_dir, _ in live)
    return f"{len(live)} runs are live ({names}); name one with --run"
