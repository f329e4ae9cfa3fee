"""What the night and the router export as metrics: one table of metric definitions, and pure functions
turning events, grades, decisions and answers into samples (no Ray here; `actors.metrics` records them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MetricKind = Literal["gauge", "counter", "histogram"]

LATENCY_BOUNDARIES_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BOUNDARIES = (1, 2, 4, 8, 16, 32, 64)
# Tag values come only from the config (specialist, phase, expert names) or from closed sets (actions,
# triggers, sources, statuses), so every tag stays bounded: never a prompt, an id or a path.
_TRAINING = ("specialist", "phase")


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric. Ray prefixes `ray_` and, for counters, appends `_total` on export."""

    name: str
    kind: MetricKind
    description: str
    tags: tuple[str, ...]
    boundaries: tuple[float, ...] = ()

    @property
    def exported_name(self) -> str:
        return f"ray_{self.name}" + ("_total" if self.kind == "counter" else "")


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "overnight_train_loss", "gauge", "Loss per response token of the last optimizer step.", _TRAINING
        ),
        MetricSpec("overnight_val_loss", "gauge", "Validation loss of the last evaluation.", _TRAINING),
        MetricSpec(
            "overnight_val_exact_match_ratio",
            "gauge",
            "Fraction of the graded val subset answered exactly (last evaluation).",
            _TRAINING,
        ),
        MetricSpec(
            "overnight_val_format_validity_ratio",
            "gauge",
            "Fraction of the graded val subset that parses in its format (last evaluation).",
            _TRAINING,
        ),
        MetricSpec(
            "overnight_peak_lr", "gauge", "Peak LR of the schedule (what the policies change).", _TRAINING
        ),
        MetricSpec("overnight_lr", "gauge", "LR of the last step (the schedule's current value).", _TRAINING),
        MetricSpec("overnight_micro_batch", "gauge", "Examples per micro-batch.", _TRAINING),
        MetricSpec(
            "overnight_grad_accum", "gauge", "Micro-batches accumulated per optimizer step.", _TRAINING
        ),
        MetricSpec(
            "overnight_train_tokens_per_second", "gauge", "Training throughput of the last step.", _TRAINING
        ),
        MetricSpec(
            "overnight_heartbeat_age_seconds",
            "gauge",
            "Seconds since the specialist's trainer last sent a heartbeat.",
            ("specialist",),
        ),
        MetricSpec(
            "overnight_grade_score",
            "gauge",
            "Score (0-100) of the last grade, by who graded it.",
            (*_TRAINING, "source"),
        ),
        MetricSpec(
            "overnight_interventions",
            "counter",
            "Decisions other than continue, by action and trigger.",
            ("specialist", "action", "trigger"),
        ),
        MetricSpec("overnight_grader_spend_usd", "gauge", "USD the LLM grader has spent in this run.", ()),
        MetricSpec("overnight_grader_budget_usd", "gauge", "The LLM grader's spending cap for the run.", ()),
        MetricSpec(
            "overnight_router_requests", "counter", "Requests answered or refused, by expert.", ("expert",)
        ),
        MetricSpec(
            "overnight_router_errors",
            "counter",
            "Requests that ended in an HTTP error, by status.",
            ("expert", "status"),
        ),
        MetricSpec(
            "overnight_router_latency_seconds",
            "histogram",
            "Time from a request's arrival to its answer.",
            ("expert",),
            LATENCY_BOUNDARIES_S,
        ),
        MetricSpec(
            "overnight_router_generated_tokens", "counter", "Tokens generated, by expert.", ("expert",)
        ),
        MetricSpec(
            "overnight_router_batch_size",
            "histogram",
            "Requests per generate call: the distribution (Ray's `_sum` adds bucket midpoints, not values).",
            (),
            BATCH_BOUNDARIES,
        ),
        MetricSpec(
            "overnight_router_batched_requests",
            "counter",
            "Requests decoded in generate calls; divided by the batch histogram's `_count`: the mean batch.",
            (),
        ),
        MetricSpec(
            "overnight_router_answers",
            "counter",
            "Answers by verdict: valid, invalid, or unchecked (free text); valid / all is the valid rate.",
            ("expert", "verdict"),
        ),
        MetricSpec(
            "overnight_router_reloads", "counter", "Adapter reloads, by outcome.", ("expert", "outcome")
        ),
    )
}


@dataclass(frozen=True)
class Sample:
    """One value for one metric with its tags."""

    name: str
    value: float
    tags: dict[str, str] = field(default_factory=dict)


def _training(name: str, value: Any, specialist: str, phase: str) -> list[Sample]:
    if value is None:
        return []
    return [Sample(name, float(value), {"specialist": specialist, "phase": phase})]


def event_samples(specialist: str, event: dict[str, Any]) -> list[Sample]:
    """Samples of one trainer event (a step or an evaluation); other events give none."""
    phase = str(event.get("phase") or "main")
    kind = event.get("kind")
    if kind == "step":
        values = {
            "overnight_train_loss": event.get("loss"),
            "overnight_lr": event.get("lr"),
            "overnight_peak_lr": event.get("peak_lr"),
            "overnight_micro_batch": event.get("micro_batch"),
            "overnight_grad_accum": event.get("grad_accum"),
            "overnight_train_tokens_per_second": event.get("tokens_per_s"),
        }
    elif kind == "epoch_eval":
        values = {
            "overnight_val_loss": event.get("val_loss"),
            "overnight_val_exact_match_ratio": event.get("exact_match"),
            "overnight_val_format_validity_ratio": event.get("format_validity"),
        }
    else:
        return []
    return [sample for name, value in values.items() for sample in _training(name, value, specialist, phase)]


def grade_samples(specialist: str, phase: str, score: float, source: str) -> list[Sample]:
    return [
        Sample(
            "overnight_grade_score",
            float(score),
            {"specialist": specialist, "phase": phase, "source": source},
        )
    ]


# Decisions that change nothing in the training: the night goes on as planned.
NOT_INTERVENTIONS = frozenset({"continue", "select_best"})


def decision_samples(specialist: str, action: str, trigger: str) -> list[Sample]:
    """An intervention counts once; `continue` and `select_best` are not interventions."""
    if action in NOT_INTERVENTIONS:
        return []
    return [
        Sample(
            "overnight_interventions", 1.0, {"specialist": specialist, "action": action, "trigger": trigger}
        )
    ]


def heartbeat_samples(ages_s: dict[str, float]) -> list[Sample]:
    return [
        Sample("overnight_heartbeat_age_seconds", age, {"specialist": name}) for name, age in ages_s.items()
    ]


def spend_samples(spent_usd: float, budget_usd: float) -> list[Sample]:
    return [
        Sample("overnight_grader_spend_usd", spent_usd),
        Sample("overnight_grader_budget_usd", budget_usd),
    ]


def verdict_of(valid: bool | None) -> str:
    """`valid` is None when the answer's format has no checker (free text)."""
    return "unchecked" if valid is None else ("valid" if valid else "invalid")


def answer_samples(answer: dict[str, Any]) -> list[Sample]:
    """Samples of one answered request (a router answer: expert, valid, completion_tokens, latency_ms)."""
    expert = str(answer.get("expert") or "unknown")
    samples = [
        Sample("overnight_router_requests", 1.0, {"expert": expert}),
        Sample(
            "overnight_router_answers", 1.0, {"expert": expert, "verdict": verdict_of(answer.get("valid"))}
        ),
        Sample(
            "overnight_router_generated_tokens",
            float(answer.get("completion_tokens") or 0),
            {"expert": expert},
        ),
    ]
    if answer.get("latency_ms") is not None:
        samples.append(
            Sample("overnight_router_latency_seconds", float(answer["latency_ms"]) / 1000, {"expert": expert})
        )
    return samples


def error_samples(expert: str | None, status: int) -> list[Sample]:
    tags = {"expert": expert or "none"}
    return [
        Sample("overnight_router_requests", 1.0, tags),
        Sample("overnight_router_errors", 1.0, {**tags, "status": str(status)}),
    ]


def batch_samples(size: int) -> list[Sample]:
    return [
        Sample("overnight_router_batch_size", float(size)),
        Sample("overnight_router_batched_requests", float(size)),
    ]


def reload_samples(expert: str, ok: bool) -> list[Sample]:
    return [Sample("overnight_router_reloads", 1.0, {"expert": expert, "outcome": "ok" if ok else "failed"})]
