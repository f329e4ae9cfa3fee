"""One Messages API request under a hard wall-clock deadline, with our own retries and a capped retry-after.

The SDK's own retries are off (`max_retries=0`): it would honour any `retry-after` (an hour, or 49 days for
`inf`). Here every attempt, every wait and every body byte is bounded by the grade's deadline:
- each attempt gets `min(timeout_s, time left)` for the whole attempt, body included: a body trickled one
  byte a second is cut when that time is up (the SDK's timeouts only bound each read);
- a wait asked by `retry-after` (or `retry-after-ms`) longer than `max_retry_after_s`, non-finite, or
  reaching past the deadline is not waited: the call gives up with that reason;
- the caller runs all of it in a worker thread and stops waiting at the deadline whatever happens
  (`run_before`), so nothing the server does can hold a grade longer.
Every failure is an AnswerRejected whose reason is bounded.

This is the only module that imports the SDK (about 3.4 CPU-seconds): agents/llm_grader.py loads it only once
a grade finds a key, so a watchdog grading with the rubric alone never pays for it.
"""

from __future__ import annotations

import contextvars
import email.utils
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic
import httpx2
from anthropic.types import Message

from agents.bounded import bounded
from agents.llm_answer import AnswerRejected

INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
RETRIED_STATUSES = frozenset({408, 409, 429})
"""Retried besides every 5xx, as the SDK does."""

_attempt_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("attempt_deadline",
                                                                                 default=None)
T = TypeVar("T")


@dataclass(frozen=True)
class CallLimits:
    """The time limits of one grade's call."""

    deadline_s: float
    timeout_s: float
    max_retries: int
    max_retry_after_s: float


class _DeadlineStream(httpx2.SyncByteStream):
    """A response body that stops with a ReadTimeout once the attempt's deadline has passed."""

    def __init__(self, inner: Any, deadline: float, request: httpx2.Request) -> None:
        self._inner, self._deadline, self._request = inner, deadline, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                raise httpx2.ReadTimeout("the response body was still arriving at the attempt's deadline",
                                         request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class DeadlineHttpClient(anthropic.DefaultHttpxClient):
    """The SDK's default client (its proxies, keep-alive and limits), reading bodies against a deadline."""

    def send(self, request: httpx2.Request, *, stream: bool = False, **kwargs: Any) -> httpx2.Response:
        deadline = _attempt_deadline.get()
        if deadline is None or stream:
            return super().send(request, stream=stream, **kwargs)
        response = super().send(request, stream=True, **kwargs)
        response.stream = _DeadlineStream(response.stream, deadline, request)
        try:
            response.read()
        finally:
            response.close()
        return response


def new_client(api_key: str, base_url: str | None, timeout_s: float) -> anthropic.Anthropic:
    """The SDK's client with its own retries off: ours (DeadlineCaller) never sleep on a long retry-after."""
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0,
                               http_client=DeadlineHttpClient(timeout=timeout_s))


def usage_tokens(message: object) -> tuple[int, int] | None:
    """(input, output) tokens of a well-formed message; None when the response is not one."""
    if not isinstance(message, Message) or not isinstance(message.content, list):
        return None
    usage = getattr(message, "usage", None)
    input_tokens, output_tokens = getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None)
    # type() is int, not isinstance: a bool is not a token count.
    if type(input_tokens) is int and type(output_tokens) is int:
        return (input_tokens, output_tokens) if min(input_tokens, output_tokens) >= 0 else None
    return None


def run_before(deadline: float, work: Callable[[], T], name: str) -> T:
    """`work()` in a daemon thread; raises TimeoutError at `deadline` (monotonic) if it has not ended.

    The thread is left to finish on its own (its attempt is bounded too); nothing waits for it.
    """
    box: Future[T] = Future()

    def target() -> None:
        try:
            box.set_result(work())
        except BaseException as error:  # handed to the waiting caller, never lost
            box.set_exception(error)

    threading.Thread(target=target, name=name, daemon=True).start()
    try:
        return box.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout as error:
        raise TimeoutError(f"{name} did not end by its deadline") from error


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The wait a response asks for (`retry-after-ms`, then `retry-after` as seconds or a date); None if none.

    Non-finite values come back as inf: they are waits nobody should honour.
    """
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        return seconds if math.isfinite(seconds) else math.inf
    return None


def _should_retry(error: anthropic.APIStatusError) -> bool:
    verdict = error.response.headers.get("x-should-retry")
    if verdict in ("true", "false"):
        return verdict == "true"
    return error.status_code in RETRIED_STATUSES or error.status_code >= 500


def _error_message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return bounded(str(body["error"].get("message", error.message)))
    return bounded(error.message)


def _status_reason(error: anthropic.APIStatusError, attempts: int) -> str:
    if error.status_code == 429:
        return f"rate limited (HTTP 429) after {attempts} attempt(s): {_error_message(error)}"
    if error.status_code >= 500:
        return f"server error (HTTP {error.status_code}) after {attempts} attempt(s): {_error_message(error)}"
    return f"API error (HTTP {error.status_code}): {_error_message(error)}"


class DeadlineCaller:
    """Sends one `messages.create` request with retries, all within `limits.deadline_s` of `start`."""

    def __init__(self, client: anthropic.Anthropic, limits: CallLimits, start: float) -> None:
        self.client, self.limits = client, limits
        self.deadline = start + limits.deadline_s

    def create(self, request: dict[str, Any]) -> Message | object:
        """The SDK's parsed response (a Message, or whatever a broken server made of it)."""
        attempts = 0
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise AnswerRejected(self._deadline_reason(attempts))
            attempts += 1
            try:
                return self._attempt(request, min(self.limits.timeout_s, left), attempts - 1)
            except anthropic.APITimeoutError as error:
                if self.deadline - time.monotonic() <= 0:
                    raise AnswerRejected(self._deadline_reason(attempts)) from error
                failure, wait = (f"timeout: no answer within {self.limits.timeout_s}s per attempt after "
                                 f"{attempts} attempt(s)"), None
            except anthropic.APIConnectionError as error:
                failure, wait = f"network error after {attempts} attempt(s): {bounded(str(error))}", None
            except anthropic.APIStatusError as error:
                if not _should_retry(error):
                    raise AnswerRejected(_status_reason(error, attempts)) from error
                failure, wait = _status_reason(error, attempts), retry_after_s(error.response.headers)
            self._wait_or_give_up(failure, attempts, wait)

    def _attempt(self, request: dict[str, Any], seconds: float, retries: int) -> Message | object:
        token = _attempt_deadline.set(time.monotonic() + seconds)
        try:
            # The header the SDK's own retries would send, so the server (and its logs) can tell a retry.
            return self.client.messages.create(**request, timeout=seconds,
                                               extra_headers={"x-stainless-retry-count": str(retries)})
        except RecursionError as error:
            raise AnswerRejected("invalid JSON in the API response: nested deeper than the parser allows "
                                 "(RecursionError)") from error
        except (anthropic.APIResponseValidationError, ValueError) as error:
            # The SDK lets a body that is not JSON surface as json.JSONDecodeError (a ValueError).
            raise AnswerRejected(bounded(f"invalid JSON in the API response: {error}")) from error
        finally:
            _attempt_deadline.reset(token)

    def _wait_or_give_up(self, failure: str, attempts: int, asked: float | None) -> None:
        """Sleep before the next attempt; raise `failure` when no attempt is left or the wait is too long."""
        limits = self.limits
        if attempts > limits.max_retries:
            raise AnswerRejected(failure)
        if asked is not None and asked > limits.max_retry_after_s:
            raise AnswerRejected(f"{failure}; the server asked to wait {asked:g} s before retrying, more "
                                 f"than max_retry_after_s ({limits.max_retry_after_s:g} s)")
        if asked is None or asked <= 0:
            backoff = min(INITIAL_BACKOFF_S * 2.0 ** (attempts - 1), MAX_BACKOFF_S)
            asked = backoff * (1 - 0.25 * random.random())
        if time.monotonic() + asked >= self.deadline:
            raise AnswerRejected(f"{failure}; waiting {asked:g} s to retry would pass the grade's deadline "
                                 f"({limits.deadline_s:g} s)")
        time.sleep(asked)

    def _deadline_reason(self, attempts: int) -> str:
        return f"deadline: no answer within the grade's deadline of {self.limits.deadline_s:g} s " \
               f"({attempts} attempt(s))"
