"""The morning webhook against a real HTTP receiver on 127.0.0.1: sent once, and harmless when it fails."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from actors.supervisor import Supervisor
from control.run_files import read_jsonl
from report.notify import NOTIFICATIONS_FILE, Notifier, NotifySection
from settings.errors import ConfigError
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import merged, tiny_run_data
from tests.cli.test_control import QuietWorkers, state_of, wait_until

SECRET_PATH = "/hooks/T000/B000/s3cr3t-token"


class Receiver:
    """A webhook receiver: records each POST; answers `status`, after `release` is set when `hold` is."""

    def __init__(self, status: int = 200, hold: bool = False) -> None:
        self.status = status
        self.hold = hold
        self.release = threading.Event()
        self.arrived = threading.Event()
        self.posts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"path": self.path, "type": self.headers["Content-Type"],
                                       "json": json.loads(body)})  # fmt: skip
                receiver.arrived.set()
                if receiver.hold:
                    receiver.release.wait(timeout=30)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def lines(run_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(run_dir / NOTIFICATIONS_FILE).records


STATE = {
    "run": "night", "status": "finished", "watch": False,
    "specialists": {
        "ascii": {"state": "finished", "last_grade": {"score": 91.4, "letter": "A", "source": "rubric"},
                  "interventions": 2, "reason": None},
        "runic": {"state": "aborted", "last_grade": None, "interventions": 5, "reason": "bounds spent"},
    },
}  # fmt: skip


def test_the_night_summary_reaches_the_webhook_once(tmp_path: Path) -> None:
    with Receiver() as receiver:
        notifier = Notifier(NotifySection(webhook_url=receiver.url), tmp_path)
        notifier.night_ended(STATE)
        notifier.night_ended(STATE)  # a retried ending
        notifier.join(timeout_s=10)
        again = Notifier(NotifySection(webhook_url=receiver.url), tmp_path)  # a restarted supervisor
        again.night_ended(STATE)
        again.join(timeout_s=10)
    (post,) = receiver.posts
    assert post["path"] == SECRET_PATH and post["type"] == "application/json"
    message = post["json"]
    assert message["event"] == "night_ended" and message["text"] == "overnight: night night finished"
    assert message["specialists"] == {
        "ascii": {"state": "finished", "grade": "A 91", "interventions": 2, "reason": None},
        "runic": {"state": "aborted", "grade": None, "interventions": 5, "reason": "bounds spent"},
    }
    assert message["report"] == str(tmp_path / "report.md")
    (line,) = lines(tmp_path)
    assert line["ok"] and line["status"] == 200 and line["key"] == "night_ended"


@pytest.mark.parametrize("status", [500, 404])
def test_an_error_status_is_logged_not_raised(tmp_path: Path, status: int) -> None:
    with Receiver(status=status) as receiver:
        notifier = Notifier(NotifySection(webhook_url=receiver.url), tmp_path)
        notifier.aborted(STATE, "runic", "bounds spent")
        notifier.join(timeout_s=10)
    assert receiver.posts[0]["json"]["text"] == "overnight: runic aborted: bounds spent"
    (line,) = lines(tmp_path)
    assert not line["ok"] and line["status"] == status and line["error"].startswith(f"HTTP {status}")
    assert "s3cr3t" not in (tmp_path / NOTIFICATIONS_FILE).read_text(), "the webhook's secret reached a log"


def test_a_refused_connection_is_logged_not_raised(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = Notifier(NotifySection(webhook_url=f"http://127.0.0.1:{port}{SECRET_PATH}"), tmp_path)
    notifier.night_ended(STATE)
    notifier.join(timeout_s=10)
    (line,) = lines(tmp_path)
    assert not line["ok"] and line["status"] is None and "refused" in line["error"].lower()
    assert line["url"] == f"http://127.0.0.1:{port}/..."


def test_a_slow_receiver_never_holds_the_caller_and_times_out(tmp_path: Path) -> None:
    with Receiver(hold=True) as receiver:
        notifier = Notifier(NotifySection(webhook_url=receiver.url, timeout_s=0.5), tmp_path)
        notifier.night_ended(STATE)
        # The caller is back while the receiver still holds the request: the POST is not on its thread.
        assert receiver.arrived.wait(timeout=10)
        assert lines(tmp_path) == []
        notifier.join(timeout_s=10)
        (line,) = lines(tmp_path)
    assert not line["ok"] and "timed out" in line["error"]


def test_no_url_no_notification(tmp_path: Path) -> None:
    notifier = Notifier(NotifySection(), tmp_path)
    notifier.night_ended(STATE)
    assert notifier.threads == [] and not (tmp_path / NOTIFICATIONS_FILE).exists()
    with Receiver() as receiver:
        quiet = Notifier(NotifySection(webhook_url=receiver.url, on_abort=False), tmp_path)
        quiet.aborted(STATE, "runic", "bounds spent")
        assert quiet.threads == []


def test_a_webhook_url_must_be_http() -> None:
    data = tiny_run_data(Path("/tmp/unused"))
    with pytest.raises(ConfigError, match=r"webhook_url must be an http:// or https:// URL, got 'ftp://host/\.\.\.'"):
        config_from_dict(merged(data, {"notify": {"webhook_url": "ftp://host/secret"}}), RunConfig)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_the_supervisor_notifies_an_abort_and_the_nights_end(tmp_path: Path, receiver: Receiver) -> None:
    extra = {"supervisor": {"poll_interval_s": 0.05}, "notify": {"webhook_url": receiver.url}}
    data = merged(tiny_run_data(tmp_path, "night", specialists=("ascii",)), extra)
    config = config_from_dict(data, RunConfig)
    run_dir = str(config.run_dir())
    supervisor = Supervisor(config, run_dir, "in-process", QuietWorkers())
    supervisor.start()
    try:
        wait_until(lambda: state_of(supervisor, "foundation") == "running", "the foundation")
        # The foundation's trainer ends faulted (its phase could not go on): the specialist is aborted.
        supervisor.trainer_done("foundation", {"ok": True, "result": {"status": "faulted"}})
        wait_until(lambda: supervisor.status()["status"] == "finished", "the night to end")
        supervisor.notifier.join(timeout_s=10)
    finally:
        supervisor.shutdown()
    messages = [post["json"] for post in receiver.posts]
    assert sorted(message["event"] for message in messages) == [
        "night_ended", "specialist_aborted", "specialist_aborted",
    ]  # fmt: skip
    aborted = {m["specialist"]: m["reason"] for m in messages if m["event"] == "specialist_aborted"}
    assert aborted == {"foundation": "training faulted", "ascii": "the foundation ended aborted"}
    assert time.time() - 60 < json.loads((config.run_dir() / "run_state.json").read_text())["finished_at"]
