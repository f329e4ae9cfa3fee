"""The morning report of a run: report.md, loss and grade PNGs, summary.json, all from the run directory."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control.run_files import (
    RUN_STATE_FILE,
    RunFileError,
    event_specialists,
    events_path,
    read_decisions,
    read_jsonl,
    read_promoted,
    read_run_state,
)
from fileio.atomic import write_bytes_atomic, write_text_atomic
from policies.decision_log import DecisionLogError
from report.coordinator import coordinator_line
from report.effects import effect_rows, plan_rows
from report.marks import fallback_lines, placed_marks, run_config_path
from report.plots import finite, plot_grades, plot_loss
from report.targets import targets_section
from report.views import (
    NO_VALUE,
    action_text,
    changed_params,
    display_epoch,
    evaluation_epoch,
    format_number,
    format_time,
    humanize_seconds,
    outcome_text,
    trigger_text,
)

# Only "continue" is not an intervention: any other action, a flag for review included, is news.
NON_INTERVENTIONS = frozenset({"continue"})
FULL_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class ReportPaths:
    """Every file `write_report` wrote."""

    report_md: Path
    summary_json: Path
    grades_png: Path
    loss_pngs: dict[str, Path]


@dataclass
class SpecialistData:
    """One specialist's slice of the run directory, split by event type."""

    name: str
    state: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    grades: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    adapter: dict[str, Any] | None = None
    malformed_lines: list[int] = field(default_factory=list)

    @property
    def interventions(self) -> list[dict[str, Any]]:
        return [d for d in self.decisions if d.get("action") not in NON_INTERVENTIONS]


@dataclass
class RunData:
    """Everything the report is made from."""

    run: str
    run_dir: Path
    state: dict[str, Any] | None
    promoted: dict[str, Any] | None
    decisions: list[dict[str, Any]]
    specialists: list[SpecialistData]
    decision_log_error: str | None = None


def load_run(run_dir: Path) -> RunData:
    """Read a run directory, complete or not; only a missing directory is an error."""
    if not run_dir.is_dir():
        raise RunFileError(f"{run_dir}: no such run directory; list runs with `overnight status`")
    state = read_run_state(run_dir) if (run_dir / RUN_STATE_FILE).exists() else None
    promoted = read_promoted(run_dir) or {}
    try:
        decisions, log_error = read_decisions(run_dir), None
    except DecisionLogError as err:
        # The report is the morning's only view of a dead run: say the log is damaged, but still draw it.
        decisions, log_error = [], str(err)
    names = list((state or {}).get("specialists", {}))
    names += [name for name in event_specialists(run_dir) if name not in names]
    names += [d["specialist"] for d in decisions if d.get("specialist") and d["specialist"] not in names]
    names = list(dict.fromkeys(names))
    specialists = []
    for name in names:
        contents = read_jsonl(events_path(run_dir, name))
        by_type: dict[str, list[dict[str, Any]]] = {}
        for event in contents.records:
            by_type.setdefault(str(event.get("type")), []).append(event)
        specialists.append(
            SpecialistData(
                name=name,
                state=(state or {}).get("specialists", {}).get(name),
                steps=by_type.get("step", []),
                epochs=by_type.get("epoch", []),
                grades=by_type.get("grade", []),
                decisions=[d for d in decisions if d.get("specialist") == name],
                adapter=(promoted.get("specialists") or {}).get(name),
                malformed_lines=contents.malformed_lines,
            )
        )
    run_name = str((state or {}).get("run") or run_dir.name)
    return RunData(run_name, run_dir, state, promoted or None, decisions, specialists, log_error)


def _json_safe(value: Any) -> Any:
    """Non-finite floats become null: summary.json stays strict JSON for any reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _span(start: Any, end: Any) -> float | None:
    start, end = finite(start), finite(end)
    return end - start if start is not None and end is not None else None


def _specialist_wall_time(spec: SpecialistData) -> float | None:
    state = spec.state or {}
    if _span(state.get("started_at"), state.get("finished_at")) is not None:
        return _span(state.get("started_at"), state.get("finished_at"))
    events = [*spec.steps, *spec.epochs, *spec.grades]
    times = [t for t in (finite(e.get("time")) for e in events) if t is not None]
    return max(times) - min(times) if times else None


def run_wall_time(data: RunData) -> float | None:
    """finished_at - started_at, or up to the last update while the run is still going."""
    state = data.state or {}
    wall = _span(state.get("started_at"), state.get("finished_at") or state.get("updated_at"))
    if wall is not None:
        return wall
    spans = [w for w in (_specialist_wall_time(spec) for spec in data.specialists) if w is not None]
    return max(spans) if spans else None


def _grade_summary(grade: dict[str, Any]) -> dict[str, Any]:
    keys = ("phase", "epoch", "step", "score", "letter", "source", "fallback_reason")
    return {key: grade.get(key) for key in keys}


def _evaluation_summary(evaluation: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The named fields of an evaluation, and whether it measured the phase's starting weights (`start`)."""
    if evaluation is None:
        return None
    return {**{key: evaluation.get(key) for key in keys}, "start": bool(evaluation.get("start"))}


def specialist_summary(spec: SpecialistData) -> dict[str, Any]:
    """Final metrics, best exact match, interventions by action, grades, wall time and adapter of one."""
    last_epoch = spec.epochs[-1] if spec.epochs else None
    scored = [e for e in spec.epochs if finite(e.get("exact_match")) is not None]
    best = max(scored, key=lambda e: e["exact_match"]) if scored else None
    finite_losses = [s for s in spec.steps if finite(s.get("loss")) is not None]
    metric_keys = ("phase", "epoch", "step", "val_loss", "exact_match", "format_validity")
    best_keys = ("exact_match", "phase", "epoch", "step")
    by_action = Counter(str(d.get("action")) for d in spec.interventions)
    state = spec.state or {}
    return {
        "state": state.get("state", "unknown" if spec.steps else "no data"),
        "reason": state.get("reason"),
        "final_metrics": _evaluation_summary(last_epoch, metric_keys),
        "best_exact_match": _evaluation_summary(best, best_keys),
        "step_events": len(spec.steps),
        "last_step": spec.steps[-1].get("step") if spec.steps else None,
        "final_train_loss": finite_losses[-1].get("loss") if finite_losses else None,
        "non_finite_losses": len(spec.steps) - len(finite_losses),
        "interventions": {"total": sum(by_action.values()), "by_action": dict(sorted(by_action.items()))},
        "decisions": len(spec.decisions),
        "grades": [_grade_summary(grade) for grade in spec.grades],
        "wall_time_s": _specialist_wall_time(spec),
        "adapter": spec.adapter,
        "malformed_event_lines": spec.malformed_lines,
    }


def build_summary(data: RunData, files: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of summary.json: per specialist, the run's timing, and totals."""
    per_specialist = {spec.name: specialist_summary(spec) for spec in data.specialists}
    by_action: Counter[str] = Counter()
    for summary in per_specialist.values():
        by_action.update(summary["interventions"]["by_action"])
    grades = [grade for spec in data.specialists for grade in spec.grades]
    state = data.state or {}
    return _json_safe(
        {
            "run": data.run,
            "status": state.get("status", "unknown"),
            "config_path": run_config_path(data.run_dir, state.get("config_path")),
            "started_at": state.get("started_at"),
            "finished_at": state.get("finished_at"),
            "wall_time_s": run_wall_time(data),
            "specialists": per_specialist,
            "coordinator": (data.promoted or {}).get("coordinator"),
            "totals": {
                "specialists": len(data.specialists),
                "step_events": sum(len(spec.steps) for spec in data.specialists),
                "decisions": len(data.decisions),
                "interventions": sum(by_action.values()),
                "interventions_by_action": dict(sorted(by_action.items())),
                "grades": len(grades),
                "grades_by_source": dict(sorted(Counter(str(g.get("source")) for g in grades).items())),
                "llm_fallbacks": sum(1 for g in grades if g.get("fallback_reason")),
            },
            "decision_log_error": data.decision_log_error,
            "files": files or {},
        }
    )


def file_stem(name: str) -> str:
    """A specialist name made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _cell(value: Any) -> str:
    """A markdown table cell: pipes escaped and newlines folded, so free text cannot break the table."""
    text = value if isinstance(value, str) else format_number(value)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ") or NO_VALUE


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return [*lines, ""]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())


def _overview(data: RunData, summary: dict[str, Any]) -> list[str]:
    totals = summary["totals"]
    names = ", ".join(spec.name for spec in data.specialists) or "none"
    interventions = f"{totals['interventions']}"
    if data.decision_log_error:
        interventions = "unknown (the decision log is unreadable)"
    elif totals["interventions"]:
        interventions += f" ({_counts(totals['interventions_by_action'])})"
    grades = f"{totals['grades']}"
    if totals["grades"]:
        fallbacks = totals["llm_fallbacks"]
        grades += f" ({_counts(totals['grades_by_source'])}; the LLM fell back to the rubric {fallbacks}×)"
    wall = humanize_seconds(summary["wall_time_s"])
    rows = [
        ["status", summary["status"]],
        ["config", summary["config_path"] or NO_VALUE],
        ["started", format_time(summary["started_at"], FULL_TIME)],
        ["finished", format_time(summary["finished_at"], FULL_TIME) if summary["finished_at"] else "not yet"],
        ["wall time", wall if summary["finished_at"] else f"{wall} so far"],
        ["specialists", f"{len(data.specialists)} ({names})"],
        ["decisions", str(totals["decisions"])],
        ["interventions", interventions],
        ["grades", grades],
    ]
    facts = [f"- **{key}**: {value}" for key, value in rows]
    return [f"# Overnight report: run `{data.run}`", "", *facts, ""]


def _grades_section(data: RunData) -> list[str]:
    rows = [
        [spec.name, g.get("phase"), display_epoch(g.get("epoch")), g.get("score"), g.get("letter"),
         f"{g.get('source') or NO_VALUE} (LLM fell back)" if g.get("fallback_reason") else g.get("source"),
         (g.get("evidence") or {}).get("verdict") or NO_VALUE]
        for spec in data.specialists
        for g in spec.grades
    ]  # fmt: skip
    lines = ["## Grades", ""]
    header = ["specialist", "phase", "epoch", "score", "letter", "source", "evidence"]
    lines += _table(header, rows) if rows else []
    lines += fallback_lines([g for spec in data.specialists for g in spec.grades])
    ungraded = [spec.name for spec in data.specialists if not spec.grades]
    if ungraded:
        lines += [f"No data: no grades yet for {', '.join(ungraded)}.", ""]
    return lines


def _metrics_section(data: RunData, summary: dict[str, Any]) -> list[str]:
    rows = []
    for spec in data.specialists:
        item = summary["specialists"][spec.name]
        final, best = item["final_metrics"], item["best_exact_match"]
        rows.append(
            [
                spec.name,
                item["state"] + (f" ({item['reason']})" if item["reason"] else ""),
                f"{final['phase']}/{evaluation_epoch(final)}" if final else "no data",
                final["val_loss"] if final else None,
                final["exact_match"] if final else None,
                final["format_validity"] if final else None,
                f"{format_number(best['exact_match'])} ({best['phase']}/{evaluation_epoch(best)})"
                if best
                else "no data",
                item["interventions"]["total"],
                humanize_seconds(item["wall_time_s"]),
            ]
        )
    header = [
        "specialist",
        "state",
        "last eval (phase/epoch)",
        "val loss",
        "exact match",
        "format validity",
        "best exact match",
        "interventions",
        "wall time",
    ]
    return ["## Final metrics", "", *(_table(header, rows) if rows else ["No data: no specialists yet.", ""])]


def _interventions_section(data: RunData) -> list[str]:
    rows = [
        [
            format_time(d.get("time")),
            d.get("specialist"),
            _where(d),
            trigger_text(d.get("trigger")),
            action_text(d),
            changed_params(d.get("params_before"), d.get("params_after")),
            d.get("reason") or "",
            outcome_text(d.get("outcome")),
        ]
        for d in data.decisions
        if d.get("action") not in NON_INTERVENTIONS
    ]
    lines = ["## Interventions", ""]
    if rows:
        header = [
            "time",
            "specialist",
            "phase/epoch, step",
            "trigger",
            "action",
            "before → after",
            "reason",
            "outcome",
        ]
        return lines + _table(header, rows)
    if data.decision_log_error:
        return [*lines, f"Unknown: the decision log could not be read: {data.decision_log_error}", ""]
    if data.decisions:
        return [*lines, f"None: all {len(data.decisions)} decisions were to continue.", ""]
    return [*lines, "None: no decisions were logged.", ""]


def _effects_section(data: RunData) -> list[str]:
    """What each intervention did (the metric before and after, with its interval), and the plan."""
    lines = ["## What each intervention did", ""]
    rows = effect_rows(data.specialists)
    header = ["specialist", "phase/epoch", "action", "before", "after", "change"]
    lines += _table(header, rows) if rows else ["None: no decision changed the training.", ""]
    plan = plan_rows(data.specialists)
    header = ["specialist", "phase", "trained", "plan changes", "interventions", "state"]
    return [*lines, "## The night against its plan", "", *_table(header, plan)]


def _where(decision: dict[str, Any]) -> str:
    epoch = decision.get("epoch")
    where = f"{decision.get('phase') or NO_VALUE}/{display_epoch(epoch) if epoch is not None else NO_VALUE}"
    return where + (f", step {decision['step']}" if decision.get("step") is not None else "")


def _figures_section(data: RunData, paths: ReportPaths) -> list[str]:
    lines = ["## Loss curves", ""]
    for spec in data.specialists:
        lines.append(f"### {spec.name}")
        lines.append("")
        if not spec.steps:
            lines += [f"No data: {spec.name} has logged no training steps.", ""]
        lines += [f"![loss curve of {spec.name}]({paths.loss_pngs[spec.name].name})", ""]
    lines += ["## Grade timeline", "", f"![grade timeline]({paths.grades_png.name})", ""]
    return lines


def _adapters_section(data: RunData) -> list[str]:
    lines = ["## Adapters", ""]
    promoted = data.promoted or {}
    rows = [
        [name, item.get("path"), item.get("phase"), item.get("epoch"), item.get("exact_match")]
        for name, item in (promoted.get("specialists") or {}).items()
    ]
    if rows:
        lines += _table(["specialist", "adapter", "phase", "epoch", "exact match"], rows)
    else:
        lines += ["No data: nothing promoted yet (no promoted.json, or it lists no specialist).", ""]
    coordinator = promoted.get("coordinator")
    if coordinator:
        lines += [coordinator_line(coordinator), ""]
    lines += [
        "Ask the router, which sends each request to the expert for the format or track it names:",
        "",
        "```sh",
        f'overnight ask --run {data.run} "Convert to LC-R: [1, 2]"',
        "```",
        "",
    ]
    return lines


def _damage_section(data: RunData) -> list[str]:
    damaged = [spec for spec in data.specialists if spec.malformed_lines]
    if not damaged:
        return []
    lines = ["## Unreadable lines", ""]
    for spec in damaged:
        numbers = ", ".join(str(n) for n in spec.malformed_lines)
        lines.append(f"- `events/{spec.name}.jsonl` lines {numbers} were not JSON objects and were skipped.")
    return [*lines, ""]


def render_markdown(data: RunData, summary: dict[str, Any], paths: ReportPaths) -> str:
    """report.md: overview, grades, final metrics, interventions, figures, adapters and how to query them."""
    sections = [
        _overview(data, summary),
        _grades_section(data),
        _metrics_section(data, summary),
        targets_section(data.run_dir, summary["specialists"]),
        _interventions_section(data),
        _effects_section(data),
        _figures_section(data, paths),
        _adapters_section(data),
        _damage_section(data),
    ]
    return "\n".join(line for section in sections for line in section).rstrip("\n") + "\n"


def write_report(run_dir: Path) -> ReportPaths:
    """Write report.md, loss_<specialist>.png, grades.png and summary.json into `run_dir`, atomically each.

    Works on a run that is still going or died early: what has no data yet says so.
    """
    data = load_run(run_dir)
    paths = ReportPaths(
        report_md=run_dir / "report.md",
        summary_json=run_dir / "summary.json",
        grades_png=run_dir / "grades.png",
        loss_pngs={spec.name: run_dir / f"loss_{file_stem(spec.name)}.png" for spec in data.specialists},
    )
    for spec in data.specialists:
        marks = placed_marks(spec.interventions, spec.steps)
        figure = plot_loss(spec.name, data.run, spec.steps, spec.epochs, marks)
        write_bytes_atomic(paths.loss_pngs[spec.name], figure)
    grades = {spec.name: spec.grades for spec in data.specialists}
    context = {spec.name: [*spec.steps, *spec.epochs] for spec in data.specialists}
    write_bytes_atomic(paths.grades_png, plot_grades(data.run, grades, context))
    files = {
        "report": paths.report_md.name,
        "grades_png": paths.grades_png.name,
        "loss_png": {name: path.name for name, path in paths.loss_pngs.items()},
    }
    summary = build_summary(data, files)
    summary_text = json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_text_atomic(paths.summary_json, summary_text)
    write_text_atomic(paths.report_md, render_markdown(data, summary, paths))
    return paths
