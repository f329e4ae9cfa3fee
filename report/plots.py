"""PNG figures of the morning report (Agg canvas, no pyplot state): loss curves and the grade timeline."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

Event = Mapping[str, Any]

GRADE_BANDS: tuple[tuple[str, float, float, str], ...] = (
    ("A", 90, 100, "#2ca02c"),
    ("B", 80, 90, "#98df8a"),
    ("C", 70, 80, "#ffdd71"),
    ("D", 60, 70, "#ffae5c"),
    ("F", 0, 60, "#ff7f7f"),
)
SOURCE_MARKERS = {"rubric": "o", "llm": "^"}
# Fixed per action so every figure of a run reads the same; none of them is a colour of the eval curves.
ACTION_COLORS = {
    "halve_lr": "#e6550d",
    "shrink_batch": "#17becf",
    "rollback": "#8c564b",
    "restart_trainer": "#393b79",
    "flag_for_review": "#bcbd22",
    "skip_phase": "#7f7f7f",
    "abort_specialist": "#000000",
    "pause": "#fdae6b",
    "resume": "#31a354",
    "stop_run": "#636363",
    "start_job": "#6baed6",
    "preempt_job": "#9e9ac8",
    "resume_job": "#3182bd",
}
# The legend names what kind of event a mark is: the policies' interventions, a user's controls, or a job's.
MARK_KINDS = {"pause": "user", "resume": "user", "stop_run": "user", "queue_job": "job", "start_job": "job",
              "preempt_job": "job", "resume_job": "job", "promote_job": "job", "keep_unpromoted": "job",
              "fail_job": "job"}  # fmt: skip
OTHER_ACTION_COLORS = ("#e377c2", "#637939", "#7b4173", "#843c39")
SPECIALIST_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number, else None (NaN losses and missing fields alike)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def png_bytes(figure: Figure) -> bytes:
    """Render a figure with the Agg canvas."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _no_data(axes: Axes, message: str) -> None:
    axes.text(
        0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, fontsize=13, color="#555"
    )
    axes.set_xticks([])
    axes.set_yticks([])


def smooth(values: Sequence[float]) -> list[float]:
    """Centred moving average over about 1/15 of the series, narrowing at the ends.

    Centred rather than exponential because the report is drawn after the fact: an EMA would lag a falling
    loss and sit visibly above it.
    """
    half = max(1, len(values) // 30)
    prefix = [0.0]
    for value in values:
        prefix.append(prefix[-1] + value)
    smoothed = []
    for index in range(len(values)):
        low, high = max(0, index - half), min(len(values), index + half + 1)
        smoothed.append((prefix[high] - prefix[low]) / (high - low))
    return smoothed


def superseded(steps: Sequence[float]) -> list[bool]:
    """True for a point that a rollback replaced: some later point has the same or an earlier step."""
    flags, later_min = [False] * len(steps), math.inf
    for index in range(len(steps) - 1, -1, -1):
        flags[index] = steps[index] >= later_min
        later_min = min(later_min, steps[index])
    return flags


def _mark_interventions(axes_list: list[Axes], decisions: Sequence[Event]) -> list[Line2D]:
    """Vertical lines at each intervention step, labelled on the first axes; returns legend handles."""
    marked = [d for d in decisions if finite(d.get("step")) is not None]
    actions = sorted({str(d.get("action")) for d in marked})
    others = iter(OTHER_ACTION_COLORS * len(actions))
    colors = {action: ACTION_COLORS.get(action) or next(others) for action in actions}
    for decision in marked:
        color = colors[str(decision.get("action"))]
        for axes in axes_list:
            axes.axvline(decision["step"], color=color, linestyle="--", linewidth=1.3)
        axes_list[0].annotate(
            f"{decision.get('action')} @ {decision['step']:g} ",
            xy=(decision["step"], 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color=color,
        )
    return [
        Line2D([], [], color=c, linestyle="--", label=f"{MARK_KINDS.get(a, 'intervention')}: {a}")
        for a, c in colors.items()
    ]


def _mark_phases(axes: Axes, steps: Sequence[Event]) -> None:
    previous = None
    for event in steps:
        if previous is not None and event.get("phase") != previous:
            axes.axvline(event["step"], color="#444", linestyle=":", linewidth=1)
            axes.annotate(
                f" {event.get('phase')} →",
                xy=(event["step"], 0.02),
                xycoords=("data", "axes fraction"),
                fontsize=8,
                color="#444",
            )
        previous = event.get("phase")


def plot_loss(
    name: str, run: str, steps: Sequence[Event], epochs: Sequence[Event], interventions: Sequence[Event]
) -> bytes:
    """PNG: train loss over steps (raw, smoothed, points undone by a rollback in grey, non-finite ones as red
    crosses) with phase changes, interventions, user controls (pause, resume, stop) and jobs marked; val loss,
    exact match and format validity below."""
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    figure.suptitle(f"{name}: training loss (run {run})")
    stepped = [s for s in steps if finite(s.get("step")) is not None]
    if not stepped and not epochs:
        _no_data(top, f"no data: {name} has no step events yet")
        _no_data(bottom, "no epoch evaluations yet")
        return png_bytes(figure)
    replaced = superseded([s["step"] for s in stepped])
    pairs = zip(stepped, replaced, strict=True)
    usable = [(s, gone) for s, gone in pairs if finite(s.get("loss")) is not None]
    kept = [s for s, gone in usable if not gone]
    undone = [s for s, gone in usable if gone]
    bad = [s for s in stepped if finite(s.get("loss")) is None]
    handles: list[Any] = []
    if kept:
        xs, ys = [s["step"] for s in kept], [s["loss"] for s in kept]
        handles += top.plot(xs, ys, color="#1f77b4", alpha=0.35, linewidth=0.8, label="train loss")
        handles += top.plot(xs, smooth(ys), color="#1f77b4", linewidth=2.2, label="train loss (smoothed)")
    if undone:
        handles.append(
            top.scatter(
                [s["step"] for s in undone],
                [s["loss"] for s in undone],
                s=10,
                color="#999",
                label="steps undone by a rollback",
            )
        )
    if bad:
        top.plot(
            [s["step"] for s in bad],
            [0.92] * len(bad),
            transform=top.get_xaxis_transform(),
            marker="x",
            markersize=9,
            color="red",
            linestyle="",
        )
        handles.append(Line2D([], [], marker="x", color="red", linestyle="", label="non-finite loss"))
    if not kept and not undone:
        top.text(0.5, 0.5, f"no finite step losses for {name}", ha="center", transform=top.transAxes)
    top.set_ylabel("train loss")
    top.grid(alpha=0.3)
    _mark_phases(top, stepped)
    handles += _mark_interventions([top, bottom], interventions)
    top.legend(handles=handles, loc="upper right", fontsize=8)
    _plot_evals(bottom, epochs)
    return png_bytes(figure)


def _plot_evals(axes: Axes, epochs: Sequence[Event]) -> None:
    evals = [e for e in epochs if finite(e.get("step")) is not None]
    axes.set_xlabel("step")
    if not evals:
        axes.text(0.5, 0.5, "no epoch evaluations yet", ha="center", va="center", transform=axes.transAxes)
        return
    val = [e for e in evals if finite(e.get("val_loss")) is not None]
    handles = axes.plot(
        [e["step"] for e in val], [e["val_loss"] for e in val], "o-", color="#2ca02c", label="val loss"
    )
    axes.set_ylabel("val loss")
    accuracy = axes.twinx()
    for key, color, label in (
        ("exact_match", "#d62728", "val exact match"),
        ("format_validity", "#9467bd", "val format validity"),
    ):
        points = [e for e in evals if finite(e.get(key)) is not None]
        handles += accuracy.plot(
            [e["step"] for e in points],
            [e[key] for e in points],
            "s--",
            color=color,
            markersize=4,
            label=label,
        )
    accuracy.set_ylim(0, 1.05)
    accuracy.set_ylabel("fraction of val examples")
    axes.grid(alpha=0.3)
    axes.legend(handles=handles, loc="center right", fontsize=8)


def epoch_offsets(events: Sequence[Event]) -> dict[str, int]:
    """Per phase, what to add to its epoch numbers to count epochs across phases.

    Phases are ordered by first appearance. A phase whose epochs restart (its first epoch is not past where
    the previous phase ended) is shifted to follow it; a phase already numbered across phases is not.
    """
    bounds: dict[str, tuple[int, int]] = {}
    for event in events:
        epoch = event.get("epoch")
        if isinstance(epoch, int) and not isinstance(epoch, bool):
            low, high = bounds.get(str(event.get("phase")), (epoch, epoch))
            bounds[str(event.get("phase"))] = (min(low, epoch), max(high, epoch))
    offsets, end = {}, 0
    for phase, (low, high) in bounds.items():
        offsets[phase] = end if low <= end else 0
        end = offsets[phase] + high + (1 if low == 0 else 0)
    return offsets


def plot_grades(
    run: str, grades: Mapping[str, Sequence[Event]], context: Mapping[str, Sequence[Event]]
) -> bytes:
    """PNG: each specialist's score at every grading epoch, letter annotated, marker by source (hollow for a
    rubric grade the LLM fell back to), letter bands shaded, phase changes dotted.

    `context` holds each specialist's step/epoch events, used only to number epochs across phases.
    """
    figure = Figure(figsize=(11, 6), layout="constrained")
    axes = figure.subplots()
    figure.suptitle(f"grade timeline (run {run})")
    points = {name: [g for g in rows if finite(g.get("score")) is not None] for name, rows in grades.items()}
    if not any(points.values()):
        _no_data(axes, "no data: no grades yet")
        return png_bytes(figure)
    lowest = min(g["score"] for rows in points.values() for g in rows)
    bottom = max(0.0, min(50.0, math.floor((lowest - 5) / 10) * 10))
    for letter, low, high, color in GRADE_BANDS:
        axes.axhspan(low, high, color=color, alpha=0.22, linewidth=0)
        if high > bottom:
            axes.text(
                1.005,
                (max(low, bottom) + high) / 2,
                letter,
                transform=axes.get_yaxis_transform(),
                va="center",
                fontsize=11,
                fontweight="bold",
                color="#333",
            )
    boundaries: dict[float, str] = {}
    for index, (name, rows) in enumerate(points.items()):
        color = SPECIALIST_COLORS[index % len(SPECIALIST_COLORS)]
        offsets = epoch_offsets([*context.get(name, ()), *rows])
        for phase, offset in offsets.items():
            if offset:
                boundaries[offset + 0.5] = phase
        spread = spread_offset(index, len(points))
        xs = [offsets.get(str(g.get("phase")), 0) + int(g.get("epoch") or 0) + spread for g in rows]
        _plot_specialist_grades(axes, xs, rows, color)
    for x, phase in sorted(boundaries.items()):
        axes.axvline(x, color="#444", linestyle=":", linewidth=1)
        axes.annotate(
            f" {phase} →", xy=(x, 0.02), xycoords=("data", "axes fraction"), fontsize=8, color="#444"
        )
    axes.set_ylim(bottom, 102)
    axes.set_xlabel("epoch (counted across phases)")
    axes.set_ylabel("score (0-100)")
    axes.grid(alpha=0.25)
    # Outside the axes, so no grade point can hide under it.
    axes.legend(handles=_grade_legend(points), loc="upper left", bbox_to_anchor=(1.03, 1.0), fontsize=9,
                borderaxespad=0)  # fmt: skip
    return png_bytes(figure)


def _plot_specialist_grades(axes: Axes, xs: Sequence[float], rows: Sequence[Event], color: str) -> None:
    """One specialist's grades: a line, a marker per grade (by source; hollow for a fallback), its letter."""
    axes.plot(xs, [g["score"] for g in rows], color=color, linewidth=1.5, alpha=0.8)
    for x, grade in zip(xs, rows, strict=True):
        hollow = grade.get("source") == "rubric" and bool(grade.get("fallback_reason"))
        marker = SOURCE_MARKERS.get(str(grade.get("source")), "s")
        axes.scatter([x], [grade["score"]], marker=marker, s=70, facecolors="white" if hollow else color,
                     edgecolors=color, linewidths=1.8, zorder=3)  # fmt: skip
        axes.annotate(str(grade.get("letter", "?")), (x, grade["score"]), textcoords="offset points",
                      xytext=(0, 9), ha="center", fontsize=10, fontweight="bold", color=color)  # fmt: skip


def _grade_legend(points: Mapping[str, Sequence[Event]]) -> list[Line2D]:
    handles = [
        Line2D([], [], color=SPECIALIST_COLORS[i % len(SPECIALIST_COLORS)], label=name)
        for i, (name, rows) in enumerate(points.items())
        if rows
    ]
    return [
        *handles,
        Line2D([], [], marker="o", color="#333", linestyle="", label="rubric grade"),
        Line2D([], [], marker="^", color="#333", linestyle="", label="LLM grade"),
        Line2D([], [], marker="o", color="#333", markerfacecolor="white", linestyle="",
               label="rubric (LLM fell back)"),
    ]  # fmt: skip


def spread_offset(index: int, count: int, width: float = 0.3) -> float:
    """How far specialist `index` of `count` is shifted along the epoch axis, so that two specialists graded
    at the same epoch with the same score stay visible side by side (centred on the epoch, `width` wide)."""
    if count <= 1:
        return 0.0
    return -width / 2 + width * index / (count - 1)
