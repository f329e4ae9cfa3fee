"""The deadline call's pure parts: reading retry-after, and a worker thread abandoned at its deadline."""

from __future__ import annotations

import email.utils
import math
import threading
import time

import pytest

from agents.llm_call import retry_after_s, run_before


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"retry-after": "3600"}, 3600.0),
    ({"retry-after": "0.2"}, 0.2),
    ({"retry-after": "-5"}, -5.0),
    ({"retry-after": "inf"}, math.inf),
    ({"retry-after": "-inf"}, math.inf),
    ({"retry-after": "nan"}, math.inf),
    ({"retry-after": "soon"}, None),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "1500", "retry-after": "3600"}, 1.5),
    ({"retry-after-ms": "x", "retry-after": "7"}, 7.0),
])
def test_retry_after_is_read_in_seconds_and_non_finite_means_never(headers: dict[str, str],
                                                                   expected: float | None) -> None:
    assert retry_after_s(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    asked = retry_after_s({"retry-after": later})
    assert asked is not None
    assert 115 <= asked <= 121


def test_run_before_returns_the_result_or_raises_what_the_work_raised() -> None:
    assert run_before(time.monotonic() + 5, lambda: 42, "quick") == 42
    with pytest.raises(KeyError, match="inner"):
        run_before(time.monotonic() + 5, lambda: {}["inner"], "failing")


def test_run_before_stops_waiting_at_the_deadline_and_leaves_the_work_running() -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck() -> None:
        release.wait(10)
        finished.set()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="stuck-call did not end by its deadline"):
        run_before(started + 0.3, stuck, "stuck-call")
    assert 0.3 <= time.monotonic() - started < 1.0
    assert not finished.is_set()
    release.set()
    assert finished.wait(5)
