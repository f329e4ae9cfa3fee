"""A hostile Messages API on 127.0.0.1: any reply may misbehave (nesting, retry-after, trickles, HTML...).

Separate from `fake_messages_server` on purpose: that one plays a well-behaved API with scripted errors;
this one plays an attacker or a broken proxy, down to the byte timing of a body.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

NEST_MARK = "__nested_here__"


@dataclass(frozen=True)
class Reply:
    """One answer to one request: status, headers and body, optionally trickled byte by byte."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    byte_interval_s: float = 0.0
    """Seconds between two body bytes; 0 writes the body at once."""


@dataclass
class _Log:
    """What the server did, read by the tests under `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    arrivals: list[float] = field(default_factory=list)
    bodies: list[dict[str, Any] | None] = field(default_factory=list)
    bytes_written: list[int] = field(default_factory=list)
    client_gone: int = 0


def nested(depth: int) -> str:
    """`depth` levels of JSON arrays, as text (json.dumps itself would recurse that deep)."""
    return "[" * depth + "]" * depth


def message(blocks: list[dict[str, Any]], *, stop_reason: str = "tool_use", input_tokens: Any = 900,
            output_tokens: Any = 150, nest_depth: int = 0) -> Reply:
    """A 200 Messages API message; a block value equal to NEST_MARK becomes `nest_depth` nested arrays."""
    data = {"id": "msg_hostile", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": blocks, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}
    text = json.dumps(data)
    if nest_depth:
        text = text.replace(json.dumps(NEST_MARK), nested(nest_depth))
    return Reply(200, text.encode())


def grade_call(tool_input: Any, *, name: str = "submit_grade", call_id: str = "toolu_1") -> dict[str, Any]:
    """A tool_use content block."""
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def api_error(status: int, error_type: str, text: str, *, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = json.dumps({"type": "error", "error": {"type": error_type, "message": text}}).encode()
    return Reply(status, body, headers=headers)


def rate_limited(retry_after: str, header: str = "retry-after") -> Reply:
    """A 429 that asks the client to wait `retry_after` (seconds, or milliseconds for retry-after-ms)."""
    return api_error(429, "rate_limit_error", "slow down", headers=((header, retry_after),))


def html_page(status: int, title: str = "502 Bad Gateway") -> Reply:
    """What a proxy in front of the API answers: an HTML page, not JSON."""
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><hr>nginx</body></html>"
    return Reply(status, page.encode(), content_type="text/html")


def trickled(reply: Reply, byte_interval_s: float) -> Reply:
    """The same reply with its body sent one byte every `byte_interval_s` seconds."""
    return Reply(reply.status, reply.body, reply.content_type, reply.headers, byte_interval_s)


def _handler(replies: list[Reply], log: _Log, stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    class HostileHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # the tests read `_Log`, not stderr

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            with log.lock:
                log.arrivals.append(time.monotonic())
                log.bodies.append(json.loads(raw) if raw else None)
                index = len(log.arrivals) - 1
                log.bytes_written.append(0)
            # Past the script, every request is refused without a retry, so an unplanned call is seen.
            reply = replies[index] if index < len(replies) else api_error(
                400, "invalid_request_error", "hostile server: no reply planned", headers=(("x-should-retry",
                                                                                            "false"),))
            try:
                self._send(reply, index)
            except (BrokenPipeError, ConnectionResetError):
                with log.lock:
                    log.client_gone += 1

        def _send(self, reply: Reply, index: int) -> None:
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if not reply.byte_interval_s:
                self.wfile.write(reply.body)
                with log.lock:
                    log.bytes_written[index] = len(reply.body)
                return
            self.wfile.flush()
            for position in range(len(reply.body)):
                if stopping.wait(reply.byte_interval_s):
                    self.close_connection = True
                    return
                self.wfile.write(reply.body[position:position + 1])
                self.wfile.flush()
                with log.lock:
                    log.bytes_written[index] = position + 1

    return HostileHandler


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HostileMessagesServer:
    """Plays `replies` in order, one per request, on 127.0.0.1; a context manager."""

    def __init__(self, *replies: Reply) -> None:
        self._replies = list(replies)
        self._log = _Log()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self._replies, self._log, self._stopping))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="hostile-messages-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def arrivals(self) -> list[float]:
        """When each request arrived (time.monotonic)."""
        with self._log.lock:
            return list(self._log.arrivals)

    @property
    def bodies(self) -> list[dict[str, Any] | None]:
        with self._log.lock:
            return list(self._log.bodies)

    def bytes_written(self, index: int) -> int:
        """Body bytes written for request `index` so far."""
        with self._log.lock:
            return self._log.bytes_written[index]

    @property
    def client_gone(self) -> int:
        """Replies cut short because the client closed the connection."""
        with self._log.lock:
            return self._log.client_gone

    def __enter__(self) -> HostileMessagesServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
