"""The metric table and the pure event -> sample mapping, with no Ray."""

from __future__ import annotations

import re

import pytest

from report.metric_samples import (
    METRICS,
    answer_samples,
    decision_samples,
    error_samples,
    event_samples,
    grade_samples,
    verdict_of,
)

STEP = {
    "kind": "step",
    "phase": "main",
    "loss": 1.25,
    "lr": 1e-4,
    "peak_lr": 2e-4,
    "micro_batch": 8,
    "grad_accum": 2,
    "tokens_per_s": 900.0,
}


def test_names_follow_prometheus_conventions() -> None:
    for spec in METRICS.values():
        assert re.fullmatch(r"overnight_[a-z_]+", spec.name), spec.name
        assert not spec.name.endswith("_total"), "Ray appends _total to counters itself"
        if spec.kind == "counter":
            assert spec.exported_name == f"ray_{spec.name}_total"
        if "seconds" in spec.name or "usd" in spec.name or "ratio" in spec.name:
            assert spec.kind in ("gauge", "histogram")
        assert not {"prompt", "id", "request_id", "path"} & set(spec.tags), spec.name


def test_a_step_gives_loss_lr_batch_and_throughput_tagged_by_specialist_and_phase() -> None:
    samples = {sample.name: sample for sample in event_samples("ascii", STEP)}
    assert samples["overnight_train_loss"].value == 1.25
    assert samples["overnight_lr"].value == 1e-4
    assert samples["overnight_peak_lr"].value == 2e-4
    assert samples["overnight_micro_batch"].value == 8
    assert samples["overnight_grad_accum"].value == 2
    assert samples["overnight_train_tokens_per_second"].value == 900.0
    assert {tuple(sorted(s.tags.items())) for s in samples.values()} == {
        (("phase", "main"), ("specialist", "ascii"))
    }


def test_an_evaluation_without_generation_gives_only_the_val_loss() -> None:
    event = {
        "kind": "epoch_eval",
        "phase": "p1",
        "val_loss": 0.5,
        "exact_match": None,
        "format_validity": None,
    }
    assert [(s.name, s.value) for s in event_samples("runic", event)] == [("overnight_val_loss", 0.5)]


def test_heartbeats_and_faults_give_no_training_sample() -> None:
    assert event_samples("ascii", {"kind": "heartbeat", "phase": "main"}) == []
    assert event_samples("ascii", {"kind": "fault", "phase": "main"}) == []


@pytest.mark.parametrize(
    ("action", "counted"),
    [
        ("continue", False),
        ("select_best", False),
        ("flag_for_review", True),
        ("halve_lr", True),
        ("rollback", True),
    ],
)
def test_every_decision_but_continue_is_an_intervention(action: str, counted: bool) -> None:
    samples = decision_samples("ascii", action, "grade")
    assert bool(samples) is counted
    if counted:
        assert samples[0].tags == {"specialist": "ascii", "action": action, "trigger": "grade"}


def test_grade_score_is_tagged_by_source() -> None:
    (sample,) = grade_samples("ascii", "main", 72.5, "llm")
    assert sample.value == 72.5 and sample.tags["source"] == "llm"


@pytest.mark.parametrize(("valid", "verdict"), [(True, "valid"), (False, "invalid"), (None, "unchecked")])
def test_verdicts(valid: bool | None, verdict: str) -> None:
    assert verdict_of(valid) == verdict


def test_an_answer_counts_a_request_its_tokens_and_its_latency_in_seconds() -> None:
    answer = {"expert": "runic", "valid": True, "completion_tokens": 9, "latency_ms": 250.0}
    samples = {sample.name: sample for sample in answer_samples(answer)}
    assert samples["overnight_router_latency_seconds"].value == 0.25
    assert samples["overnight_router_generated_tokens"].value == 9
    assert samples["overnight_router_answers"].tags == {"expert": "runic", "verdict": "valid"}


def test_every_sample_carries_exactly_its_metrics_tags() -> None:
    samples = [
        *event_samples("a", STEP),
        *event_samples(
            "a",
            {"kind": "epoch_eval", "phase": "p", "val_loss": 1.0, "exact_match": 0.5, "format_validity": 0.9},
        ),
        *grade_samples("a", "p", 50, "rubric"),
        *decision_samples("a", "halve_lr", "grade"),
        *answer_samples({"expert": "x", "valid": None, "completion_tokens": 0, "latency_ms": 1}),
        *error_samples(None, 422),
    ]
    for sample in samples:
        assert set(sample.tags) == set(METRICS[sample.name].tags), sample
