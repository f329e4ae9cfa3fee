"""Small pieces of the morning report: where a decision goes on the loss plot, the LLM fallbacks said once,
and the config path that still exists in the morning."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from control.run_files import RUN_CONFIG_FILE
from report.plots import finite
from report.views import to_datetime

PLACED_BY_TIME = frozenset({
    "pause", "resume", "stop_run", "abort_specialist", "skip_phase",
    "queue_job", "start_job", "preempt_job", "resume_job", "promote_job", "keep_unpromoted", "fail_job",
})  # fmt: skip
"""Actions whose trigger carries no training step of their own (a user's control, a job's bookkeeping): they
are drawn at the last step trained before they were taken."""


def placed_marks(decisions: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]) -> list[dict]:
    """The decisions to mark on a loss plot, each with the step it happened at. A pause, a stop or a job's
    start goes at the last step event logged before the decision; one before any step is left out."""
    timed = sorted((float(s["time"]), s["step"]) for s in steps
                   if finite(s.get("time")) is not None and finite(s.get("step")) is not None)  # fmt: skip
    times = [time for time, _ in timed]
    marks = []
    for decision in decisions:
        if decision.get("action") not in PLACED_BY_TIME:
            marks.append(decision)
            continue
        when = to_datetime(decision.get("time"))
        index = bisect.bisect_right(times, when.timestamp()) - 1 if when is not None else -1
        if index >= 0:
            marks.append({**decision, "step": timed[index][1]})
    return marks


def fallback_lines(grades: Sequence[dict[str, Any]]) -> list[str]:
    """Each distinct reason the LLM grader fell back to the rubric, once, with how often it happened."""
    reasons = Counter(str(g["fallback_reason"]) for g in grades if g.get("fallback_reason"))
    if not reasons:
        return []
    told = "; ".join(f"{reason} ({count}×)" for reason, count in reasons.most_common())
    return [f"The LLM grader fell back to the rubric {sum(reasons.values())}×: {told}.", ""]


def run_config_path(run_dir: Path, recorded: Any) -> str | None:
    """The run's own config copy when it has one (the recorded path may be Ray's temporary working dir,
    gone by morning), else the recorded path."""
    copy = run_dir / RUN_CONFIG_FILE
    if copy.is_file():
        return str(copy.resolve())
    return str(recorded) if recorded else None
