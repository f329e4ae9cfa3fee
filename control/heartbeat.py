"""When a trainer's silence is a stall: the supervisor's heartbeat rule, pure so its boundaries are tested."""

from __future__ import annotations


def stalled_for(last_heartbeat: float | None, launched_at: float | None, now: float, stall_seconds: float,
                startup_grace_s: float) -> float | None:
    """Seconds of silence when they make a stall, else None.

    A trainer that has reported is stalled after `stall_seconds` of silence or more; one still starting
    (imports, model load, no heartbeat yet) only after max(`startup_grace_s`, `stall_seconds`) since its
    launch, so only a start-up that never ends counts.
    """
    if last_heartbeat is None:
        silence = now - (launched_at if launched_at is not None else now)
        return silence if silence >= max(startup_grace_s, stall_seconds) else None
    silence = now - last_heartbeat
    return silence if silence >= stall_seconds else None
