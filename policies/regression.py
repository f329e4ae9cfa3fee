"""The regression guard: a job's checkpoint is promoted only when it is not worse than the promoted one."""

from __future__ import annotations

# Exact match is a ratio of small counts; a difference below this is the same score.
TOLERANCE = 1e-9


def regression_verdict(baseline: float | None, candidate: float | None, margin: float) -> tuple[bool, str]:
    """(promote?, why) from both checkpoints' exact match on the specialist's standing val set."""
    if candidate is None:
        return False, "the job's checkpoint has no exact-match score on the standing val set"
    if baseline is None:
        return True, f"exact match {candidate:.3f} on the standing val set; nothing promoted to compare with"
    floor = baseline - margin
    compared = (
        f"exact match {candidate:.3f} on the standing val set against the promoted checkpoint's "
        f"{baseline:.3f} (margin {margin:g})"
    )
    if candidate + TOLERANCE >= floor:
        return True, f"{compared}: not worse, promoted"
    return False, f"{compared}: worse by {baseline - candidate:.3f}, kept but not promoted"
