"""The HTTP app's front guard (ASGI): request ids, API-key auth, bounded body reads, generic 500s, and
error responses counted by status and shaped as OpenAI's on its paths."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import structlog

from report.metric_samples import error_samples
from serving.limits import BodyTimeout, BodyTooLarge, ClientGone, HttpLimits, json_problem, read_body
from serving.metric_sink import SampleSink, record_quietly
from serving.openai_shapes import reshape_error
from serving.safe_logging import failure_fields

REQUEST_ID_HEADER = "x-request-id"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
log = structlog.get_logger(__name__)


class ApiKey:
    """The configured key, kept as its SHA-256 so it is never stored or shipped in clear."""

    def __init__(self, sha256_hex: str) -> None:
        self.digest = bytes.fromhex(sha256_hex)

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def accepts(self, header: str | None) -> tuple[bool, str]:
        """(accepted, why not) for an Authorization header value; compared in constant time."""
        if not header:
            return False, "missing 'Authorization: Bearer <key>' header"
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False, "the Authorization header must read 'Bearer <key>'"
        candidate = hashlib.sha256(given.strip().encode("utf-8")).digest()
        if not hmac.compare_digest(candidate, self.digest):
            return False, "wrong API key"
        return True, ""


def error_body(kind: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one error shape: {"error": {"type", "message", "field"}, ...}."""
    return {"error": {"type": kind, "message": message, "field": field}, **extra}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class Guard:
    """Runs before FastAPI parses anything: gives each request an id (the X-Request-Id header), checks
    the key (all paths but `open_paths`), reads a body within HttpLimits (413 over the cap, 408 past the
    deadline, 422 field `body` when it is not JSON), and turns any unhandled error into a generic 500 that
    names the request id, logged without local variables."""

    def __init__(
        self,
        app: Any,
        key: ApiKey | None,
        limits: HttpLimits,
        open_paths: frozenset[str],
        openai_paths: frozenset[str] = frozenset(),
        metrics: SampleSink | None = None,
    ) -> None:
        self.app = app
        self.key = key
        self.limits = limits
        self.open_paths = open_paths
        self.openai_paths = openai_paths
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        send_shaped = self._error_shaper(scope, send)

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                if message["status"] >= 400:
                    record_quietly(self.metrics, error_samples(None, message["status"]))
            await send_shaped(message)

        refusal = self._refusal(scope)
        if refusal is None and scope["method"] in BODY_METHODS:
            refusal, receive = await self._bounded_body(scope, receive)
        if refusal is not None:
            if refusal[0] > 0:
                await _respond(send_with_id, *refusal)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as err:  # the last line: every error a handler did not expect
            log.error(
                "request failed",
                request_id=request_id,
                path=scope.get("path"),
                prompt=scope["state"].get("prompt"),  # clipped by the endpoint, never in full
                **failure_fields(err),
            )
            if not started:
                message = f"internal error; the server log has the details under request id {request_id}"
                body = error_body("internal", message, request_id=request_id)
                await _respond(send_with_id, 500, body)

    def _error_shaper(self, scope: dict[str, Any], send: Any) -> Any:
        """`send`, except that on the OpenAI paths an error response's body is rewritten into the OpenAI
        error shape (serving.openai_shapes.reshape_error): its start is held until the body is complete."""
        if scope.get("path") not in self.openai_paths:
            return send
        held: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def shaped(message: dict[str, Any]) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = reshape_error(held["status"], b"".join(chunks))
            headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
            await send({**held, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        return shaped

    def _refusal(self, scope: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if self.key is None or scope.get("path") in self.open_paths:
            return None
        accepted, why = self.key.accepts(_header(scope, b"authorization"))
        if accepted:
            return None
        return 401, error_body("unauthorized", why), {"WWW-Authenticate": "Bearer"}

    async def _bounded_body(
        self, scope: dict[str, Any], receive: Any
    ) -> tuple[tuple[int, dict[str, Any], dict[str, str]] | None, Any]:
        """(refusal or None, a receive that replays the body already read)."""
        cap = self.limits.max_body_bytes
        message = f"the body is over {cap} bytes, more than any valid request needs"
        too_large = 413, error_body("body_too_large", message, "body"), {}
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            return too_large, receive  # refused on its Content-Length: not one byte of it is read
        try:
            body = await read_body(receive, self.limits)
        except BodyTooLarge:
            return too_large, receive
        except BodyTimeout:
            message = f"the body did not arrive within {self.limits.body_timeout_s:g} s"
            return (408, error_body("body_timeout", message, "body"), {"Connection": "close"}), receive
        except ClientGone:
            return (0, {}, {}), receive  # nobody to answer
        problem = _body_problem(body, _header(scope, b"content-type"))
        if problem is not None:
            return (422, error_body("invalid_request", f"body: {problem}", "body"), {}), receive
        return None, _replay(body, receive)


def _body_problem(body: bytes, content_type: str | None) -> str | None:
    if not body:
        return None
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return f"send JSON with 'Content-Type: application/json' (this request says {media!r})"
    return json_problem(body)


def _replay(body: bytes, receive: Any) -> Any:
    """An ASGI receive that hands over `body` (already read) once, then the connection's own messages
    (its disconnect)."""
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(
    send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
