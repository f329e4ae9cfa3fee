"""Terminal views of a run: the status table, the decision-log table, JSON lines, and tailing the log."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from control.run_files import parse_json_object

NO_VALUE = "—"
STATE_STYLES = {
    "pending": "dim",
    "running": "green",
    "paused": "yellow",
    "finished": "blue",
    "stopped": "magenta",
    "aborted": "red",
    "failed": "bold red",
}


def as_dict(record: Any) -> dict[str, Any]:
    """A decision record as a JSON-ready dict, whether it is a pydantic model or already a mapping."""
    dump = getattr(record, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(record, Mapping):
        return dict(record)
    raise TypeError(f"expected a DecisionRecord or a dict, got {type(record).__name__}: {record!r}")


def humanize_seconds(seconds: float | None) -> str:
    """`45s`, `12m 05s`, `3h 04m`, `2d 01h`; `—` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return NO_VALUE
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_number(value: Any) -> str:
    """Short, unambiguous rendering of a metric or parameter: learning rates stay in scientific notation."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 1e-2:
        return f"{value:.1e}"
    return f"{value:.4g}"


def to_datetime(when: Any) -> datetime | None:
    """A unix timestamp (events), a datetime or an ISO-8601 string (decision log) as an aware datetime."""
    if isinstance(when, datetime):
        return when if when.tzinfo else when.astimezone()
    if isinstance(when, int | float) and not isinstance(when, bool) and math.isfinite(when):
        return datetime.fromtimestamp(when).astimezone()
    if isinstance(when, str):
        try:
            return to_datetime(datetime.fromisoformat(when))
        except ValueError:
            return None
    return None


def format_time(when: Any, pattern: str = "%m-%d %H:%M:%S") -> str:
    """Local wall-clock time, with the date, as the user reads the log in the morning; `—` if unknown."""
    parsed = to_datetime(when)
    return parsed.astimezone().strftime(pattern) if parsed else NO_VALUE


def format_grade(
    grade: Mapping[str, Any] | None,
    source: str | None,
    fallback_reason: str | None = None,
    separator: str = "; ",
) -> str:
    """`B 84 (llm)`, `C 71 (rubric; LLM fell back: timeout)`, or `—`."""
    if not grade:
        return NO_VALUE
    score = grade.get("score")
    letter = str(grade.get("letter", "?"))
    text = f"{letter} {score:.0f}" if isinstance(score, int | float) else letter
    if source and fallback_reason:
        return f"{text} ({source}{separator}LLM fell back: {fallback_reason})"
    return f"{text} ({source})" if source else text


def changed_params(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, separator: str = ", "
) -> str:
    """Only the parameters a decision changed, as `peak_lr 2.0e-04 → 1.0e-04, micro_batch 4 → 2`; `—` if
    none."""
    before = before or {}
    after = after or {}
    changes = [
        f"{key} {format_number(before.get(key))} → {format_number(after.get(key))}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return separator.join(changes) if changes else NO_VALUE


def _phase_cell(spec: Mapping[str, Any]) -> str:
    phase = spec.get("phase")
    if not phase:
        return NO_VALUE
    total = spec.get("phases_total") or 0
    # phase_index counts from 0 in RunState; people count phases from 1.
    return f"{phase} ({int(spec.get('phase_index') or 0) + 1}/{total})" if total else str(phase)


def _epoch_cell(spec: Mapping[str, Any]) -> str:
    if not spec.get("phase"):
        return NO_VALUE
    # The events count epochs from 0 (the one in flight); people, the log and this table count from 1.
    total = spec.get("epochs_total")
    shown = display_epoch(spec.get("epoch"))
    return f"{min(shown, total)}/{total}" if total else str(shown)


def display_epoch(epoch: Any) -> int:
    """An event's 0-based epoch as people count it (from 1), as status and the log show it."""
    return int(epoch or 0) + 1


def evaluation_epoch(evaluation: Mapping[str, Any]) -> str:
    """Which weights an evaluation measured: `start` for the phase's starting weights (`eval_at_start`, whose
    line says `"start": true` with epoch 0), else the trained epoch counted from 1."""
    return "start" if evaluation.get("start") else str(display_epoch(evaluation.get("epoch")))


def _batch_cell(spec: Mapping[str, Any]) -> str:
    micro, accum = spec.get("micro_batch"), spec.get("grad_accum")
    if micro is None and accum is None:
        return NO_VALUE
    return f"{format_number(micro)} × {format_number(accum)}"


def _state_cell(spec: Mapping[str, Any]) -> Text:
    state = str(spec.get("state", "unknown"))
    text = Text(state, style=STATE_STYLES.get(state, ""))
    if spec.get("reason"):
        text.append(f" ({spec['reason']})", style="dim")
    return text


STATUS_COLUMNS = (
    "specialist", "phase", "epoch", "step", "loss", "last grade", "LR", "micro-batch × accum", "state", "ETA",
)  # fmt: skip


def status_cells(name: str, spec: Mapping[str, Any]) -> list[Any]:
    """The cells of one specialist's status row, in STATUS_COLUMNS order (the state cell is styled Text)."""
    last = spec.get("last_grade")
    return [
        str(name),
        _phase_cell(spec),
        _epoch_cell(spec),
        str(spec.get("step", 0)) if spec.get("phase") else NO_VALUE,
        format_number(spec.get("loss")),
        format_grade(last, last.get("source") if last else None),
        format_number(spec.get("lr")),
        _batch_cell(spec),
        _state_cell(spec),
        humanize_seconds(spec.get("eta_s")) if spec.get("state") in ("running", "paused") else NO_VALUE,
    ]


def status_table(state: Mapping[str, Any]) -> Table:
    """One row per specialist of a RunState dict (run_state.json or the live supervisor's snapshot)."""
    title = f"run {state.get('run', '?')} · {state.get('status', 'unknown')}"
    table = Table(title=title, title_justify="left")
    for column in STATUS_COLUMNS:
        table.add_column(column, overflow="fold", justify="right" if column == "ETA" else "left")
    specialists = state.get("specialists") or {}
    for name, spec in specialists.items():
        table.add_row(*status_cells(name, spec))
    if not specialists:
        table.caption = "no specialists yet"
    return table


def queue_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """One row per continuous-training job (control/job_queue.py's job_row), in the order given."""
    table = Table(title="jobs", title_justify="left")
    for column in ("job", "specialist", "priority", "state", "epochs", "file", "preempted", "result"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row.get("promoted") is not None:
            verdict = "promoted" if row["promoted"] else "not promoted"
            result = (
                f"{verdict}: exact match {format_number(row.get('exact_match'))} vs "
                f"{format_number(row.get('baseline_exact_match'))}"
            )
        else:
            result = row.get("error") or NO_VALUE
        table.add_row(
            str(row["id"]), str(row["specialist"]), str(row["priority"]),
            Text(str(row["state"]), style=STATE_STYLES.get(str(row["state"]), "")),
            str(row["epochs"]), str(row["source"]), str(row.get("preemptions") or 0), str(result),
        )  # fmt: skip
    return table


def live_view(state: Mapping[str, Any]) -> Any:
    """The status table, with the job queue under it when the run has jobs (`overnight run`'s live view)."""
    from rich.console import Group

    rows = state.get("queue") or []
    return Group(status_table(state), queue_table(rows)) if rows else status_table(state)


def trigger_text(trigger: Any) -> str:
    """`oom: CUDA out of memory`, `grade: improving`, `control: stop`: the trigger's kind and what it says (a
    grade's evidence verdict)."""
    if not isinstance(trigger, Mapping):
        return str(trigger or NO_VALUE)
    text = str(trigger.get("kind") or NO_VALUE)
    evidence = trigger.get("evidence")
    verdict = evidence.get("verdict") if isinstance(evidence, Mapping) else None
    detail = trigger.get("detail") or trigger.get("requested") or verdict
    return f"{text}: {detail}" if detail else text


def outcome_text(outcome: Any) -> str:
    """`ok: resumed at step 140`, `failed: ...`, or `pending` while the action has not reported back."""
    if outcome is None:
        return "pending"
    if isinstance(outcome, Mapping):
        status = "ok" if outcome.get("ok") else "failed"
        return f"{status}: {outcome['detail']}" if outcome.get("detail") else status
    return str(outcome)


def action_text(decision: Mapping[str, Any]) -> str:
    """The action, and the checkpoint it resumes from when it uses one."""
    action = str(decision.get("action") or NO_VALUE)
    return f"{action} (from {decision['checkpoint']})" if decision.get("checkpoint") else action


def decision_row(record: Any) -> list[str]:
    """The table cells of one decision: time, specialist, phase/epoch, trigger, grade, action, changes,
    reason, outcome."""
    row = as_dict(record)
    phase, epoch = row.get("phase"), row.get("epoch")
    where = f"{phase or NO_VALUE}/{display_epoch(epoch)}" if epoch is not None else str(phase or NO_VALUE)
    return [
        format_time(row.get("time")),
        str(row.get("specialist") or NO_VALUE),
        where,
        trigger_text(row.get("trigger")),
        format_grade(row.get("grade"), row.get("grade_source"), row.get("fallback_reason"), separator=",\n"),
        action_text(row),
        changed_params(row.get("params_before"), row.get("params_after"), separator="\n"),
        str(row.get("reason") or ""),
        outcome_text(row.get("outcome")),
    ]


DECISION_COLUMNS = (
    "time",
    "specialist",
    "phase/epoch",
    "trigger",
    "grade",
    "action",
    "before → after",
    "reason",
    "outcome",
)


def decision_table(records: Iterable[Any], specialist: str | None = None) -> Table:
    """The decision log as a table, oldest first, optionally for one specialist only."""
    rows = [as_dict(record) for record in records]
    if specialist is not None:
        rows = [row for row in rows if row.get("specialist") == specialist]
    title = "decisions" + (f" for {specialist}" if specialist else "")
    table = Table(title=title, title_justify="left")
    for column in DECISION_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*decision_row(row))
    if not rows:
        table.caption = "no decisions yet"
    return table


def log_line_text(line: Mapping[str, Any]) -> str:
    """One raw decision-log line (as `follow_log` delivers it) in words, for `overnight log --follow`.

    Decision lines become their table cells joined by ` · `; outcome lines name the decision they close.
    """
    if line.get("kind") == "outcome":
        closed = line.get("decision_id")
        return f"{format_time(line.get('time'))} · outcome of {closed} · {outcome_text(line)}"
    cells = decision_row(line)[:-1]
    return " · ".join(cell.replace("\n", ", ") for cell in cells)


def render_json_lines(records: Iterable[Any]) -> str:
    """One JSON object per record and line, for `overnight log --json` piped into jq."""
    return "".join(json.dumps(as_dict(record), ensure_ascii=False) + "\n" for record in records)


def follow_log(
    path: Path,
    on_record: Callable[[dict[str, Any]], None],
    stop: Callable[[], bool],
    poll_s: float = 0.5,
    offset: int = 0,
) -> int:
    """Call `on_record` with each JSON line appended to `path` from byte `offset`, until `stop()` is true.

    A line is delivered only once its newline is written, so a half-written line waits for its end. The
    file may not exist yet. Every line complete when `stop()` first returns true is still delivered.
    Returns the byte offset after the last complete line, to resume from.
    """
    pending = b""
    while True:
        stopping = stop()
        chunk = _read_from(path, offset + len(pending))
        if chunk:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line_offset = offset
                offset += len(raw) + 1
                if not raw.strip():
                    continue
                parsed = parse_json_object(raw)
                if parsed is None:
                    # A crash mid-write glued two halves together; later lines are still worth showing.
                    import structlog  # here: `overnight status` and `log` should not wait for its import

                    structlog.get_logger(__name__).warning(
                        "log_line_unreadable",
                        path=str(path),
                        byte_offset=line_offset,
                        text=raw[:200].decode("utf-8", "replace"),
                    )
                    continue
                on_record(parsed)
        if stopping:
            return offset
        time.sleep(poll_s)


def _read_from(path: Path, position: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(position)
            return handle.read()
    except FileNotFoundError:
        return b""
