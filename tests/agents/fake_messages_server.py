"""A real local HTTP server that speaks enough of the Anthropic Messages API for the grader tests."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGES_PATH = "/v1/messages"


@dataclass(frozen=True)
class ScriptedResponse:
    """One reply the server gives to one request, in the order it was queued."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    """What the server saw: used by tests to check retries, timing and the prompt that was sent."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    received_at: float


def _message_json(content: list[dict[str, Any]], stop_reason: str, input_tokens: int, output_tokens: int,
                  model: str) -> bytes:
    message = {
        "id": "msg_fake_0001",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    return json.dumps(message).encode()


def tool_use_reply(tool_input: dict[str, Any], *, tool_name: str = "submit_grade", input_tokens: int = 900,
                   output_tokens: int = 150, model: str = "claude-haiku-4-5", delay_s: float = 0.0,
                   ) -> ScriptedResponse:
    """A 200 whose content is one tool_use block carrying `tool_input`."""
    block = {"type": "tool_use", "id": "toolu_fake_0001", "name": tool_name, "input": tool_input}
    body = _message_json([block], "tool_use", input_tokens, output_tokens, model)
    return ScriptedResponse(200, body, (("content-type", "application/json"),), delay_s)


def text_reply(text: str, *, input_tokens: int = 900, output_tokens: int = 150,
               model: str = "claude-haiku-4-5") -> ScriptedResponse:
    """A 200 whose content is one text block (the model answered without using the tool)."""
    body = _message_json([{"type": "text", "text": text}], "end_turn", input_tokens, output_tokens, model)
    return ScriptedResponse(200, body, (("content-type", "application/json"),))


def error_reply(status: int, error_type: str, message: str, *,
                headers: tuple[tuple[str, str], ...] = ()) -> ScriptedResponse:
    """An error in the API's shape: {"type": "error", "error": {"type": ..., "message": ...}}."""
    body = json.dumps({"type": "error", "error": {"type": error_type, "message": message},
                       "request_id": "req_fake_0001"}).encode()
    return ScriptedResponse(status, body, (("content-type", "application/json"), *headers))


def raw_reply(status: int, body: bytes, content_type: str = "application/json") -> ScriptedResponse:
    """Any bytes at all, e.g. a body that is not JSON."""
    return ScriptedResponse(status, body, (("content-type", content_type),))


@dataclass
class _Script:
    queue: deque[ScriptedResponse] = field(default_factory=deque)
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)


def _make_handler(script: _Script) -> type[BaseHTTPRequestHandler]:
    class MessagesHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            # Silence per-request stderr lines; tests read `requests` instead.
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
            with script.lock:
                headers = {name.lower(): value for name, value in self.headers.items()}
                script.requests.append(ReceivedRequest(self.path, headers, body, time.monotonic()))
                reply = self._next_reply()
            if reply.delay_s:
                # Waits on the closing event so a stopping server does not hang on a sleeping handler.
                script.closing.wait(reply.delay_s)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout fired) before the delayed reply was written.
                return

        def _next_reply(self) -> ScriptedResponse:
            if self.path != MESSAGES_PATH:
                return error_reply(404, "not_found_error",
                                   f"fake server serves only {MESSAGES_PATH}, got {self.path}")
            if "x-api-key" not in self.headers and "authorization" not in self.headers:
                return error_reply(401, "authentication_error",
                                   "fake server: no x-api-key or authorization header")
            if script.queue:
                return script.queue.popleft()
            # A test that sends more requests than it scripted fails loudly and is never retried.
            return error_reply(400, "invalid_request_error", "fake server: no scripted response left",
                               headers=(("x-should-retry", "false"),))

    return MessagesHandler


class FakeMessagesServer:
    """Messages API on 127.0.0.1 with a queue of scripted replies; use as a context manager."""

    def __init__(self) -> None:
        self._script = _Script()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self._script))
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-messages-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._script.lock:
            return list(self._script.requests)

    @property
    def pending(self) -> int:
        with self._script.lock:
            return len(self._script.queue)

    def enqueue(self, *replies: ScriptedResponse) -> None:
        with self._script.lock:
            self._script.queue.extend(replies)

    def start(self) -> FakeMessagesServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._script.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeMessagesServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
