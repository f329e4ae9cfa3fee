"""The supervisor's watcher of `overnight ctl` requests (control/control_file.py): a thread that applies
each request once and stamps the supervisor's heartbeat, so `overnight status` tells live from stale."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from control.control_file import (
    HEARTBEAT_EVERY_S,
    POLL_S,
    ControlRequest,
    ControlRequestError,
    pending_requests,
    read_result,
    write_heartbeat,
    write_result,
)

log = structlog.get_logger(__name__)


class ControlWatcher:
    """A thread in the supervisor: applies control requests once each, and stamps the heartbeat."""

    def __init__(
        self,
        run_dir: Path,
        run: str,
        apply: Callable[[ControlRequest], dict[str, Any]],
        stop: threading.Event,
        poll_s: float = POLL_S,
    ) -> None:
        self.run_dir = run_dir
        self.run = run
        self.apply = apply
        self.stop = stop
        self.poll_s = poll_s
        self.beat_at = 0.0
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling (idempotent)."""
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="control-watcher", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.run_dir.is_dir():
                log.warning("control watcher: the run directory is gone; it stops", run_dir=str(self.run_dir))
                return
            try:
                self.poll_once()
            except OSError:
                log.exception("control watcher: the run directory could not be read; trying again")
            self.stop.wait(self.poll_s)

    def poll_once(self) -> list[dict[str, Any]]:
        """Stamp the heartbeat when due, then answer every waiting request; returns the answers."""
        now = time.time()
        if now - self.beat_at >= HEARTBEAT_EVERY_S:
            write_heartbeat(self.run_dir, self.run, now)
            self.beat_at = now
        answers = []
        for path, request in pending_requests(self.run_dir):
            request_id = path.stem
            if read_result(self.run_dir, request_id) is None:
                answers.append(self._answer(request_id, request))
            # The answer is on disk before the request goes: a crash in between answers it again, not never.
            path.unlink(missing_ok=True)
        return answers

    def _answer(self, request_id: str, request: ControlRequest | ControlRequestError) -> dict[str, Any]:
        if isinstance(request, ControlRequestError):
            result: dict[str, Any] = {"ok": False, "error": str(request)}
        else:
            try:
                result = {"ok": True, **self.apply(request)}
            except ControlRequestError as err:
                result = {"ok": False, "error": str(err)}
            except Exception as err:
                # A bug in applying one request must not end the watcher (and with it the heartbeat).
                log.exception("control request failed", request=request_id)
                result = {"ok": False, "error": f"the supervisor could not apply it: {err!r}"}
        log.info("control request", request=request_id, **result)
        write_result(self.run_dir, request_id, result)
        return result
