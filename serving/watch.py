"""`overnight serve` watches the router actor: a dead router is started again, or serve exits non-zero."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Literal

RouterState = Literal["alive", "busy", "gone"]
# A router that dies this many times in one serve is broken (it crashes on start, or on every batch):
# recreating it again would hide that, so serve stops with a non-zero exit instead.
MAX_RECREATIONS = 5
WATCH_INTERVAL_S = 2.0


def watch_router(
    probe: Callable[[], RouterState],
    recreate: Callable[[], None],
    *,
    interval_s: float = WATCH_INTERVAL_S,
    max_recreations: int = MAX_RECREATIONS,
    stop: threading.Event | None = None,
) -> int:
    """Probe the router every `interval_s` until `stop` is set (0) or it cannot be kept up (1).

    `gone` (killed, or dead past Ray's max_restarts) starts a new one with `recreate`; `busy` (Ray is
    restarting it, or it is slow to answer) waits. The HTTP app answers 503 with Retry-After meanwhile."""
    stop = stop or threading.Event()
    recreated = 0
    while not stop.wait(interval_s):
        if probe() != "gone":
            continue
        if recreated >= max_recreations:
            print(
                f"serve: error: the router actor died again after {recreated} restarts by serve; stopping "
                "(see the router's log in the Ray dashboard)",
                file=sys.stderr,
            )
            return 1
        started = time.monotonic()
        try:
            recreate()
        except Exception as err:  # a router that cannot start ends serve, with the reason
            print(
                f"serve: error: the router actor died and could not be started again: {err}", file=sys.stderr
            )
            return 1
        recreated += 1
        print(
            f"serve: the router actor was gone; started a new one in {time.monotonic() - started:.1f} s "
            f"({recreated} of at most {max_recreations})",
            flush=True,
        )
    return 0
