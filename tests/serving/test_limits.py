"""HTTP limits without a server: body caps and deadlines, JSON that cannot be parsed, serve's router watch."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from serving.limits import (
    BodyTimeout,
    BodyTooLarge,
    HttpLimits,
    http_limits,
    json_problem,
    max_ongoing_requests,
    read_body,
)
from serving.watch import watch_router


def test_the_body_cap_fits_the_largest_valid_request() -> None:
    limits = http_limits({"max_prompt_chars": 8000, "batch_max_size": 32})
    # 32 prompts of 8000 characters, each written as a 12-byte escaped surrogate pair, plus 64 KiB.
    assert limits.max_body_bytes == 32 * 8000 * 12 + 65536
    assert max_ongoing_requests({"batch_max_size": 32}) == 64  # two full batches, not Ray Serve's 5
    with pytest.raises(ValueError, match="must all be positive"):
        HttpLimits(max_body_bytes=0)


def _receive_from(messages: list[dict[str, Any]], stall: bool = False) -> Any:
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        if stall:
            await asyncio.sleep(3600)  # a client that never finishes its body
        return {"type": "http.disconnect"}

    return receive


def test_a_body_is_read_within_its_cap_and_deadline() -> None:
    limits = HttpLimits(max_body_bytes=10, body_timeout_s=0.2)
    chunks = [{"type": "http.request", "body": b"12345", "more_body": True}]
    whole = [*chunks, {"type": "http.request", "body": b"67890", "more_body": False}]
    assert asyncio.run(read_body(_receive_from(whole), limits)) == b"1234567890"  # exactly the cap
    over = [*chunks, {"type": "http.request", "body": b"678901", "more_body": True}]
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(_receive_from(over, stall=True), limits))  # refused before the stall
    with pytest.raises(BodyTimeout):
        asyncio.run(read_body(_receive_from(chunks, stall=True), limits))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"prompt": "\xff"}', "the body is not valid UTF-8 (byte 12"),
        (b"[" * 100_000, "JSON decode error: the body nests arrays or objects deeper than the server parses"),
        (b'{"prompt": "x", "max_new_tokens": ' + b"9" * 5000 + b"}", "JSON decode error: Exceeds the limit"),
        (b'{"prompt": "Convert to', "JSON decode error: Unterminated string starting at (line 1, column 12)"),
    ],
)
def test_unparsable_bodies_say_why(body: bytes, problem: str) -> None:
    found = json_problem(body)
    assert found is not None and found.startswith(problem), found


def test_parsable_bodies_pass() -> None:
    assert json_problem(b'{"prompt": "Convert to LC-R: [1, 2]", "max_new_tokens": 4}') is None
    assert json_problem(b"[" * 50 + b"]" * 50) is None
    assert json_problem(b'{"n": ' + b"9" * 4300 + b"}") is None  # the longest integer Python converts


def _watch(states: list[str], recreate: Any, max_recreations: int = 2) -> tuple[int, list[str]]:
    stop = threading.Event()
    seen: list[str] = []

    def probe() -> Any:
        if not states:
            stop.set()
            return "alive"
        seen.append(states[0])
        return states.pop(0)

    code = watch_router(probe, recreate, interval_s=0.001, max_recreations=max_recreations, stop=stop)
    return code, seen


def test_serve_recreates_a_dead_router_and_waits_for_a_restarting_one() -> None:
    recreated: list[int] = []
    code, seen = _watch(["alive", "gone", "busy", "alive", "gone"], lambda: recreated.append(1))
    assert (code, seen, len(recreated)) == (0, ["alive", "gone", "busy", "alive", "gone"], 2)


def test_serve_exits_non_zero_when_the_router_cannot_be_kept_up(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _watch(["gone", "gone", "gone"], lambda: None, max_recreations=2)
    assert code == 1
    assert "the router actor died again after 2 restarts by serve; stopping" in capsys.readouterr().err

    def broken() -> None:
        raise RuntimeError("no GPU left")

    code, _ = _watch(["gone"], broken)
    assert code == 1
    assert "died and could not be started again: no GPU left" in capsys.readouterr().err
