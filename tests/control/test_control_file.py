"""Control requests as files, the watcher that applies each once, and the supervisor's heartbeat."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from actors.control_watcher import ControlWatcher
from control.control_file import (
    HEARTBEAT_FILE,
    STALE_AFTER_S,
    ControlRequest,
    ControlRequestError,
    control_dir,
    pending_requests,
    read_result,
    result_path,
    staleness,
    supervisor_seen_at,
    wait_for_result,
    write_request,
    write_result,
)


class Applier:
    """What the supervisor's apply_request does, reduced to recording each request it gets."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.applied: list[ControlRequest] = []
        self.fail_with = fail_with

    def __call__(self, request: ControlRequest) -> dict[str, Any]:
        self.applied.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        return {"decision_id": f"d-{len(self.applied)}", "action": request.action, "reason": "as asked"}


def watcher(run_dir: Path, apply: Applier) -> ControlWatcher:
    return ControlWatcher(run_dir, "night", apply, threading.Event())


@pytest.mark.parametrize(("action", "specialist", "message"), [
    ("rewind", "ascii", "unknown control 'rewind'; use pause, resume, stop, skip, stop-run"),
    ("pause", None, "control 'pause' needs a specialist"),
    ("stop-run", "ascii", "control 'stop-run' takes no specialist"),
])  # fmt: skip
def test_a_request_that_cannot_be_made_says_why(action: str, specialist: str | None, message: str) -> None:
    with pytest.raises(ControlRequestError, match=message.replace("(", r"\(")):
        ControlRequest.new(action, specialist)


def test_requests_are_read_back_oldest_first_and_half_written_files_are_not_requests(tmp_path: Path) -> None:
    first = ControlRequest.new("pause", "ascii")
    second = ControlRequest.new("stop-run", None)
    write_request(tmp_path, second if second.id < first.id else first)
    write_request(tmp_path, first if second.id < first.id else second)
    (control_dir(tmp_path) / ".x.json.123.tmp").write_text("{")  # a write in progress
    found = [request for _, request in pending_requests(tmp_path)]
    assert found == sorted([first, second], key=lambda request: request.id)
    assert found[0].time <= found[1].time


def test_the_watcher_applies_a_request_once_answers_it_and_removes_it(tmp_path: Path) -> None:
    apply = Applier()
    request = ControlRequest.new("pause", "ascii")
    path = write_request(tmp_path, request)
    answers = watcher(tmp_path, apply).poll_once()
    assert [r.id for r in apply.applied] == [request.id]
    assert answers == [{"ok": True, "decision_id": "d-1", "action": "pause", "reason": "as asked"}]
    assert read_result(tmp_path, request.id) == {"request_id": request.id, **answers[0]}
    assert not path.exists()
    assert watcher(tmp_path, apply).poll_once() == []
    assert len(apply.applied) == 1


def test_a_request_answered_before_a_crash_is_not_applied_again(tmp_path: Path) -> None:
    # The supervisor died after writing the answer and before removing the request: it must not act twice.
    apply = Applier()
    request = ControlRequest.new("stop", "ascii")
    path = write_request(tmp_path, request)
    write_result(tmp_path, request.id, {"ok": True, "decision_id": "d-0"})
    assert watcher(tmp_path, apply).poll_once() == []
    assert apply.applied == []
    assert not path.exists()


def test_refused_broken_and_failing_requests_are_answered_not_lost(tmp_path: Path) -> None:
    refused = ControlRequest.new("stop", "ascii")
    write_request(tmp_path, refused)
    refusing = watcher(tmp_path, Applier(ControlRequestError("ascii is already finished; nothing to stop")))
    assert refusing.poll_once() == [{"ok": False, "error": "ascii is already finished; nothing to stop"}]

    folder = control_dir(tmp_path)
    (folder / "broken.json").write_text("[1, 2]")
    (folder / "odd.json").write_text(json.dumps({"id": "odd", "action": "dance", "time": 1}))
    failing = ControlRequest.new("pause", "ascii")
    write_request(tmp_path, failing)
    apply = Applier(RuntimeError("boom"))
    assert len(watcher(tmp_path, apply).poll_once()) == 3
    assert [request.id for request in apply.applied] == [failing.id]  # only the well-formed one is applied
    names = ("broken", "odd", failing.id)
    errors = {name: (read_result(tmp_path, name) or {}).get("error") for name in names}
    assert errors == {
        "broken": f"{folder / 'broken.json'}: not a JSON object",
        "odd": "unknown control 'dance'; use pause, resume, stop, skip, stop-run",
        failing.id: "the supervisor could not apply it: RuntimeError('boom')",
    }
    assert list(folder.glob("*.json")) == []


def test_wait_for_result_returns_the_answer_or_none_after_the_timeout(tmp_path: Path) -> None:
    assert wait_for_result(tmp_path, "missing", timeout_s=0.1) is None
    write_result(tmp_path, "here", {"ok": True})
    assert wait_for_result(tmp_path, "here", timeout_s=0.1) == {"request_id": "here", "ok": True}
    assert result_path(tmp_path, "here").parent == control_dir(tmp_path) / "done"


def test_the_watcher_thread_stamps_the_heartbeat_and_stops_with_its_event(tmp_path: Path) -> None:
    stop = threading.Event()
    thread_watcher = ControlWatcher(tmp_path, "night", Applier(), stop, poll_s=0.01)
    thread_watcher.start()
    request = ControlRequest.new("skip", "ascii")
    write_request(tmp_path, request)
    assert wait_for_result(tmp_path, request.id, timeout_s=5.0) is not None
    stop.set()
    assert thread_watcher.thread is not None
    thread_watcher.thread.join(timeout=5.0)
    assert not thread_watcher.thread.is_alive()
    beat = json.loads((tmp_path / HEARTBEAT_FILE).read_text())
    assert beat["run"] == "night" and isinstance(beat["pid"], int)


def test_supervisor_seen_at_is_the_newer_of_the_heartbeat_and_the_state(tmp_path: Path) -> None:
    assert supervisor_seen_at(tmp_path, {}) is None
    assert supervisor_seen_at(tmp_path, {"updated_at": 100.0}) == 100.0
    (tmp_path / HEARTBEAT_FILE).write_text(json.dumps({"run": "night", "pid": 1, "time": 250.0}))
    assert supervisor_seen_at(tmp_path, {"updated_at": 100.0}) == 250.0
    assert supervisor_seen_at(tmp_path, {"updated_at": 300.0}) == 300.0


@pytest.mark.parametrize(("status", "seen_at", "expected"), [
    ("running", 1000.0 - STALE_AFTER_S, None),  # exactly at the limit: still live
    ("running", 1000.0 - STALE_AFTER_S - 0.5, f"stale: supervisor not seen for {STALE_AFTER_S + 0.5:.0f} s"),
    ("running", 1000.0 - 600.0, "stale: supervisor not seen for 600 s"),
    ("running", None, "stale: supervisor never seen"),
    ("finished", 0.0, None),  # a finished run has no supervisor to miss
    ("failed", None, None),
])  # fmt: skip
def test_staleness_boundary(status: str, seen_at: float | None, expected: str | None) -> None:
    assert staleness(status, seen_at, now=1000.0) == expected


def test_the_watcher_stops_when_its_run_directory_is_removed(tmp_path: Path) -> None:
    run_dir = tmp_path / "night"
    run_dir.mkdir()
    thread_watcher = ControlWatcher(run_dir, "night", Applier(), threading.Event(), poll_s=0.01)
    thread_watcher.start()
    while run_dir.exists():  # (a heartbeat being written at that moment makes one rmtree fail)
        shutil.rmtree(run_dir, ignore_errors=True)
    assert thread_watcher.thread is not None
    thread_watcher.thread.join(timeout=5.0)
    assert not thread_watcher.thread.is_alive()
