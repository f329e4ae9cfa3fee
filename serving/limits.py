"""The HTTP server's limits, chosen on purpose: concurrency, body size and read deadline, retry advice."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from serving.safe_logging import clip

MAX_PROMPTS_PER_COMPLETION = 32
# The most JSON bytes one prompt character can take: a character outside the BMP written as an escaped
# surrogate pair ("\ud83d\ude00") is 12 bytes. A body cap of prompts x characters x 12 (plus room for the
# other fields) therefore refuses nothing a valid request can hold.
JSON_BYTES_PER_CHAR = 12
BODY_SLACK_BYTES = 64 * 1024
# The HTTP replica only forwards to the router actor (no model in it), so one async replica serves
# every connection. It admits two full router batches at once: one generating while the next one fills
# (Ray Serve's default of 5 would cap every batch at 5 requests).
HTTP_REPLICAS = 1
BATCHES_IN_FLIGHT = 2
# Router methods that must answer while every generate slot is busy run in their own thread group.
CONTROL_GROUP = "control"
BODY_TIMEOUT_S = 10.0
"""Seconds a client has to send its whole request body before it gets 408."""


@dataclass(frozen=True)
class HttpLimits:
    """`max_body_bytes`: larger bodies get 413 before they are read in full; `body_timeout_s`: a body not
    received completely within it gets 408 (a client that never finishes its body frees its slot);
    `retry_after_s`: the Retry-After of a 503 while the router is down."""

    max_body_bytes: int
    body_timeout_s: float = BODY_TIMEOUT_S
    retry_after_s: int = 5

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.body_timeout_s <= 0 or self.retry_after_s < 1:
            raise ValueError(
                f"max_body_bytes={self.max_body_bytes}, body_timeout_s={self.body_timeout_s} and "
                f"retry_after_s={self.retry_after_s} must all be positive"
            )


def http_limits(router_limits: dict[str, Any], body_timeout_s: float = 10.0) -> HttpLimits:
    """The limits for a router with `router_limits` (Router.limits()): the body cap fits the largest valid
    request, MAX_PROMPTS_PER_COMPLETION prompts of max_prompt_chars characters."""
    prompt_bytes = MAX_PROMPTS_PER_COMPLETION * int(router_limits["max_prompt_chars"]) * JSON_BYTES_PER_CHAR
    return HttpLimits(max_body_bytes=prompt_bytes + BODY_SLACK_BYTES, body_timeout_s=body_timeout_s)


def max_ongoing_requests(router_limits: dict[str, Any]) -> int:
    """Requests one HTTP replica works on at once (the router actor takes as many generate calls)."""
    return BATCHES_IN_FLIGHT * int(router_limits["batch_max_size"])


class BodyTooLarge(Exception):
    """The body is over HttpLimits.max_body_bytes (by its Content-Length, or as it arrived)."""


class BodyTimeout(Exception):
    """The body did not arrive completely within HttpLimits.body_timeout_s."""


class ClientGone(Exception):
    """The client disconnected before its body was complete."""


async def read_body(receive: Any, limits: HttpLimits) -> bytes:
    """The whole request body from an ASGI `receive`, within one deadline for all of it (a client trickling
    a byte a second cannot hold a slot), and abandoned as soon as it exceeds the cap."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise BodyTooLarge()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyTimeout() from None


def json_problem(body: bytes) -> str | None:
    """Why `body` is not a JSON document (None when it is): invalid UTF-8, bad syntax, nesting deeper than
    the parser goes, an integer too long to convert."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"the body is not valid UTF-8 (byte {err.start}: {body[err.start : err.start + 1]!r})"
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return f"JSON decode error: {err.msg} (line {err.lineno}, column {err.colno})"
    except RecursionError:
        return "JSON decode error: the body nests arrays or objects deeper than the server parses"
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        return f"JSON decode error: {clip(str(err), 120)}"
    return None
