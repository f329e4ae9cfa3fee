"""The morning report's account of what each intervention did, and of each specialist's night against plan.

An intervention's effect is the evaluation just before it against the first one after it (by time, in the
same phase), exact match with its Wilson interval on the n graded examples and val loss; "no evaluation
after it" when the phase ended first. The plan is what each phase was set to train, what stop-early and
extend decisions made of it, and how it ended.
"""

from __future__ import annotations

from typing import Any, Protocol

from agents.evidence import wilson_interval
from policies.decisions import Action
from report.views import evaluation_epoch
from settings.policies import EvidenceThresholds

PASSIVE = frozenset({Action.CONTINUE.value, Action.FLAG_FOR_REVIEW.value, Action.SELECT_BEST.value})
"""Decisions that change nothing in training: they have no effect to show."""
EPOCH_CHANGES = frozenset({Action.STOP_EARLY.value, Action.EXTEND_PHASE.value})


class SpecialistEvents(Protocol):
    """What the report loaded for one specialist (report.morning.SpecialistData)."""

    name: str
    state: dict[str, Any] | None
    epochs: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


def _time(item: dict[str, Any]) -> float:
    value = item.get("time")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        from datetime import datetime

        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def metric_text(evaluation: dict[str, Any] | None) -> str:
    """`exact match 24.0% [16.6%, 33.3%] (n=96), val loss 1.64 (epoch 4)` (`(start)` for the phase's
    starting weights), or what is missing."""
    if evaluation is None:
        return "no evaluation"
    exact, n = evaluation.get("exact_match"), evaluation.get("n_graded")
    if isinstance(exact, int | float) and isinstance(n, int) and n > 0:
        low, high = wilson_interval(float(exact), n, EvidenceThresholds().z)
        exact_text = f"exact match {exact:.1%} [{low:.1%}, {high:.1%}] (n={n})"
    elif isinstance(exact, int | float):
        exact_text = f"exact match {exact:.1%}"
    else:
        exact_text = "exact match not measured"
    loss = evaluation.get("val_loss")
    loss_text = f", val loss {loss:.4g}" if isinstance(loss, int | float) else ""
    epoch = evaluation_epoch(evaluation)
    return f"{exact_text}{loss_text} ({epoch if evaluation.get('start') else f'epoch {epoch}'})"


def _effect(decision: dict[str, Any], evaluations: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(before, after, change) for one decision, from the phase's evaluations around it."""
    when = _time(decision)
    same_phase = [e for e in evaluations if e.get("phase") == decision.get("phase")]
    before = [e for e in same_phase if _time(e) <= when]
    after = [e for e in same_phase if _time(e) > when]
    first_before = before[-1] if before else None
    first_after = after[0] if after else None
    change = "the phase ended before the next evaluation"
    if first_before and first_after:
        change = _change(first_before, first_after)
    return metric_text(first_before), metric_text(first_after), change


def _change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Whether exact match moved beyond both intervals, and by how much."""
    exact_before, exact_after = before.get("exact_match"), after.get("exact_match")
    n_before, n_after = before.get("n_graded"), after.get("n_graded")
    if not all(isinstance(v, int | float) for v in (exact_before, exact_after)):
        return "not comparable (no exact match)"
    delta = f"{(exact_after - exact_before) * 100:+.1f} points"  # type: ignore[operator]
    if not (isinstance(n_before, int) and isinstance(n_after, int) and n_before > 0 and n_after > 0):
        return f"{delta} (no interval: n unknown)"
    z = EvidenceThresholds().z
    low_b, high_b = wilson_interval(float(exact_before), n_before, z)  # type: ignore[arg-type]
    low_a, high_a = wilson_interval(float(exact_after), n_after, z)  # type: ignore[arg-type]
    if low_a > high_b:
        return f"{delta}, better beyond both intervals"
    if high_a < low_b:
        return f"{delta}, worse beyond both intervals"
    return f"{delta}, within the noise"


def effect_rows(specialists: list[SpecialistEvents]) -> list[list[str]]:
    """One row per decision that changed training: specialist, where, action, before, after, change."""
    rows = []
    for spec in specialists:
        for decision in spec.decisions:
            if decision.get("action") in PASSIVE or decision.get("action") is None:
                continue
            before, after, change = _effect(decision, spec.epochs)
            where = f"{decision.get('phase')}/{int(decision.get('epoch') or 0) + 1}"
            rows.append([spec.name, where, str(decision.get("action")), before, after, change])
    return rows


def plan_rows(specialists: list[SpecialistEvents]) -> list[list[str]]:
    """Per specialist and phase: epochs trained against the plan, plan changes, interventions, the end.
    The start-of-phase evaluation measured no trained epoch: it is not counted."""
    rows = []
    for spec in specialists:
        state = str((spec.state or {}).get("state", "unknown"))
        phases = list(dict.fromkeys(str(e.get("phase")) for e in spec.epochs))
        if not phases:
            rows.append([spec.name, "no data", "no evaluation yet", "", "", state])
        for phase in phases:
            trained = max((int(e.get("epoch", 0)) + 1 for e in spec.epochs
                           if e.get("phase") == phase and not e.get("start")), default=0)
            decisions = [d for d in spec.decisions if d.get("phase") == phase]
            changes = [_epoch_change(d) for d in decisions if d.get("action") in EPOCH_CHANGES]
            quiet = PASSIVE | EPOCH_CHANGES
            acted = [str(d.get("action")) for d in decisions if d.get("action") not in quiet]
            plan = "; ".join(changes) or "as planned"
            rows.append([spec.name, phase, f"{trained} epoch(s) evaluated", plan, ", ".join(acted) or "none",
                         state])
    return rows


def _epoch_change(decision: dict[str, Any]) -> str:
    before, after = decision.get("params_before") or {}, decision.get("params_after") or {}
    return f"{decision.get('action')} {before.get('epochs')} -> {after.get('epochs')} epochs"
