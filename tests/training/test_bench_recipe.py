"""The throughput bench runs end to end on the tiny fixture (its figures come from real runs, not here)."""

from __future__ import annotations

import pytest

from bench.recipe_throughput import measure, recipe_spans
from training.events import (
    CheckpointSaved,
    EpochEval,
    Event,
    Heartbeat,
    PhaseEnded,
    PhaseStarted,
    StepMetrics,
)

from .conftest import FIXTURE_CORPUS

WHERE = {"specialist": "s", "phase": "p", "epoch": 0, "step": 1}


def step(seconds: float) -> StepMetrics:
    return StepMetrics(
        **WHERE, loss=1.0, grad_norm=1.0, lr=1e-3, peak_lr=1e-3, micro_batch=1, grad_accum=1, tokens=10,
        tokens_per_s=10 / seconds, step_time_s=seconds, examples_seen=1, progress=0.5,
    )  # fmt: skip


def test_spans_cut_out_evaluation_and_attribute_checkpoints() -> None:
    evaluation = EpochEval(
        **WHERE, train_loss=1.0, val_loss=1.0, exact_match=None, format_validity=None, n_graded=0,
        per_task={}, samples=[], eval_time_s=4.0,
    )  # fmt: skip
    stamped: list[tuple[Event, float, float]] = [
        (PhaseStarted(**WHERE, resumed_from=None, skipped_checkpoints=[], total_steps=2, peak_lr=1e-3,
                      micro_batch=8, grad_accum=1), 0.0, 0.0),
        (step(2.0), 2.1, 4.0),
        (evaluation, 6.1, 12.0),  # 4 s of evaluation after the epoch's last step
        (Heartbeat(**WHERE, stage="checkpoint"), 6.2, 12.1),
        (CheckpointSaved(**WHERE, path="x", reason="epoch", exact_match=None), 6.7, 12.6),
        (step(3.0), 9.8, 18.6),
        (PhaseEnded(**WHERE, status="completed", reason="done"), 10.0, 19.0),
    ]
    spans = recipe_spans(stamped)
    assert spans["seconds"] == pytest.approx(6.0)
    assert spans["cpu_seconds"] == pytest.approx(11.0)
    assert spans["checkpoint_seconds"] == pytest.approx(0.5)
    assert spans["step_seconds"] == pytest.approx(5.0)
    assert spans["other_seconds"] == pytest.approx(0.5)


@pytest.mark.slow
def test_throughput_bench_compares_the_same_work(make_config) -> None:  # type: ignore[no-untyped-def]
    result = measure(make_config(), str(FIXTURE_CORPUS), epochs=1, method="lora", rounds=2)
    assert result["recipe_tokens_per_s"] > 0 and result["bare_tokens_per_s"] > 0
    assert result["max_step_loss_difference"] < 1e-6  # same model, data, batches and schedule
    assert result["checkpoints_per_run"] == 2  # phase start and phase end
    assert result["tokens_per_run"] > 0
    assert [r["order"] for r in result["rounds_detail"]] == ["bare, recipe", "recipe, bare"]
    assert 0 <= result["overhead_fraction"] < 1
