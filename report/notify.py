"""The morning notification: a short JSON summary POSTed to a webhook when the night ends or a specialist is
aborted. Off by default; a failing receiver (refused, slow, 500) never affects the run: each POST runs in its
own thread with a bounded timeout, and its outcome is written to `<run>/notifications.jsonl`."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any

import structlog

from control.run_files import read_jsonl
from settings.notify import NotifySection, redacted

NOTIFICATIONS_FILE = "notifications.jsonl"
NIGHT_ENDED = "night_ended"
SPECIALIST_ABORTED = "specialist_aborted"
log = structlog.get_logger(__name__)


def summary(state: dict[str, Any], event: str, run_dir: Path, specialist: str | None = None,
            reason: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The message: what happened, and one line per specialist (state, last grade, interventions)."""
    specialists = {}
    for name, spec in state.get("specialists", {}).items():
        grade = spec.get("last_grade") or {}
        specialists[name] = {
            "state": spec.get("state"),
            "grade": f"{grade['letter']} {grade['score']:.0f}" if grade else None,
            "interventions": spec.get("interventions", 0),
            "reason": spec.get("reason"),
        }
    if event == SPECIALIST_ABORTED:
        what = f"{specialist} aborted: {reason}"
    elif state.get("status") == "running" and state.get("watch"):
        what = f"night {state.get('run')}: the plan is done; watching the inbox"
    else:
        what = f"night {state.get('run')} {state.get('status')}"
    return {
        "run": state.get("run"),
        "event": event,
        "text": f"overnight: {what}",
        "time": datetime.now(UTC).isoformat(),
        "specialist": specialist,
        "reason": reason,
        "specialists": specialists,
        "report": str(run_dir / "report.md"),
    }


def post_json(url: str, payload: dict[str, Any], timeout_s: float) -> int:
    """POST `payload`; the HTTP status. Raises OSError / HTTPException on refusal, timeout or error status."""
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "overnight"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # the scheme is checked
        return int(response.status)


class Notifier:
    """Sends each notification once (keyed by event and specialist, remembered in notifications.jsonl)."""

    def __init__(self, section: NotifySection, run_dir: Path) -> None:
        self.section = section
        self.path = run_dir / NOTIFICATIONS_FILE
        self.run_dir = run_dir
        self.lock = threading.Lock()
        self.sent = {line.get("key") for line in read_jsonl(self.path).records}
        self.threads: list[threading.Thread] = []

    def night_ended(self, state: dict[str, Any]) -> None:
        self._send(NIGHT_ENDED, summary(state, NIGHT_ENDED, self.run_dir))

    def aborted(self, state: dict[str, Any], specialist: str, reason: str) -> None:
        if self.section.on_abort:
            payload = summary(state, SPECIALIST_ABORTED, self.run_dir, specialist, reason)
            self._send(f"{SPECIALIST_ABORTED}:{specialist}", payload)

    def _send(self, key: str, payload: dict[str, Any]) -> None:
        if self.section.webhook_url is None:
            return
        with self.lock:
            if key in self.sent:
                return  # a retried ending (or a restarted supervisor) does not notify twice
            self.sent.add(key)
        thread = threading.Thread(target=self._deliver, args=(key, payload), name="notify", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _deliver(self, key: str, payload: dict[str, Any]) -> None:
        url = self.section.webhook_url
        assert url is not None  # _send checked it
        started = time.monotonic()
        try:
            status, error = post_json(url, payload, self.section.timeout_s), None
        except urllib.error.HTTPError as err:
            status, error = err.code, f"HTTP {err.code} {err.reason}"
        except (OSError, HTTPException) as err:  # refused, timed out, reset, malformed answer
            status, error = None, f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        line = {"key": key, "event": payload["event"], "url": redacted(url), "ok": error is None,
                "status": status, "error": error, "seconds": round(time.monotonic() - started, 3),
                "time": time.time()}  # fmt: skip
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
        if error is None:
            log.info("notification sent", notification=payload["event"], url=line["url"])
        else:
            log.warning("notification failed; the run is unaffected", notification=payload["event"],
                        url=line["url"], error=error)  # fmt: skip

    def join(self, timeout_s: float) -> None:
        """Wait for the notifications in flight (tests, and a driver about to exit)."""
        for thread in list(self.threads):
            thread.join(timeout=timeout_s)
