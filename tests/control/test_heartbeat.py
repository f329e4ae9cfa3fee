"""The supervisor's stall rule at its exact boundaries."""

from __future__ import annotations

import pytest

from control.heartbeat import stalled_for


@pytest.mark.parametrize(("last", "launched", "now", "stalled"), [
    (100.0, 0.0, 160.0, 60.0),
    (100.0, 0.0, 159.75, None),
    (None, 100.0, 400.0, 300.0),
    (None, 100.0, 399.75, None),
], ids=["silence-at-stall_seconds", "silence-just-below", "start-up-at-its-grace", "start-up-just-within"])
def test_stalled_for(last: float | None, launched: float, now: float, stalled: float | None) -> None:
    assert stalled_for(last, launched, now, stall_seconds=60.0, startup_grace_s=300.0) == stalled


def test_a_start_up_grace_shorter_than_stall_seconds_still_waits_stall_seconds() -> None:
    assert stalled_for(None, 0.0, 59.5, stall_seconds=60.0, startup_grace_s=10.0) is None
    assert stalled_for(None, 0.0, 60.0, stall_seconds=60.0, startup_grace_s=10.0) == 60.0
