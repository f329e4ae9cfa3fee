"""The throughput bench runs end to end on the tiny fixture (its figures come from real runs, not here)."""

from __future__ import annotations

import pytest

from bench.recipe_throughput import measure

from .conftest import FIXTURE_CORPUS


@pytest.mark.slow
def test_throughput_bench_compares_the_same_work(make_config) -> None:  # type: ignore[no-untyped-def]
    result = measure(make_config(), str(FIXTURE_CORPUS), epochs=1, method="lora", rounds=1)
    assert result["recipe_tokens_per_s"] > 0 and result["bare_tokens_per_s"] > 0
    assert result["max_step_loss_difference"] < 1e-6  # same model, data, batches and schedule
    assert result["checkpoints_per_run"] == 2  # phase start and phase end
    assert result["tokens_per_run"] > 0
