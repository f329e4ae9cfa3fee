"""Stopping the private Ray cluster a test's driver started, and only that one (others may run tests)."""

from __future__ import annotations

import contextlib


def stop_cluster(address: str) -> None:
    """Kill every process of the cluster at `address` (its GCS address is on their command lines)."""
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        if any(address in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()
