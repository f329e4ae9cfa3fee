"""Smoke run of bench/router.py on the router test run, at tiny sizes: every figure is there, as a number."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bench.router import main, mixed_prompts, scale_shape
from serving.route_rules import route

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)

MEMORY_KEYS = (
    "router_base_plus_adapters_rss_mb",
    "one_model_rss_mb",
    "three_models_rss_mb",
    "router_vs_one_model",
    "three_models_vs_one_model",
    "parameters_router_vs_one_model",
)
STRATEGIES = ("router_mixed_adapter_batches", "router_grouped_by_expert", "one_by_one_model_per_expert")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_mixed_prompts_give_each_expert_a_third() -> None:
    experts = [route(prompt).expert for prompt in mixed_prompts(9)]
    assert sorted(experts) == ["ascii"] * 3 + ["coordinator"] * 3 + ["runic"] * 3


def test_scale_shapes_are_valid_qwen3_shapes() -> None:
    for hidden in (64, 128, 512, 768, 1024):
        shape = scale_shape(hidden, 2)
        assert shape["num_attention_heads"] % shape["num_key_value_heads"] == 0
        assert shape["intermediate_size"] > hidden


@pytest.mark.slow
@pytest.mark.bench
def test_bench_writes_every_figure(trained_run: TrainedRun, tmp_path: Path) -> None:
    out = tmp_path / "router.json"
    argv = [
        "--run",
        str(trained_run.run_dir),
        "--out",
        str(out),
        "--requests",
        "6",
        "--max-new-tokens",
        "3",
        "--quality-per-corpus",
        "2",
        "--scale-hidden",
        "64",
        "--scale-layers",
        "1",
        "--rounds",
        "1",
    ]
    assert main(argv) == 0
    results = json.loads(out.read_text())
    assert results["setup"]["source"] == f"finished run {trained_run.run_dir}"
    for section in ("served", "scale"):
        memory = results["memory"][section]
        assert all(is_number(memory[key]) for key in MEMORY_KEYS), memory
        assert isinstance(memory["within_target"], bool) and memory["target_router_vs_one_model"] == 1.15
        assert (
            memory["parameters"]["three"] > 2 * memory["parameters"]["one"] > memory["parameters"]["router"]
        )
        speed = results["throughput"][section]
        assert all(is_number(speed[name]["requests_per_s"]) for name in STRATEGIES)
        assert speed["faster_strategy"] in ("mixed", "group") and is_number(
            speed["router_speedup_vs_one_by_one"]
        )
    assert results["throughput"]["scale"]["router_mixed_adapter_batches"]["completion_tokens"] == 6 * 3
    assert is_number(results["routing_overhead"]["median_us_per_request"])
    quality = results["quality"]
    assert quality["examples"] == 6 and quality["routed_to_the_record_track"] == 1.0
    assert sorted(quality["per_expert"]) == ["ascii", "coordinator", "runic"]
    assert all(
        is_number(v["exact_match"]) and is_number(v["validity"]) for v in quality["per_expert"].values()
    )


def test_bench_rejects_too_few_requests(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--requests", "1"])
    assert exit_info.value.code == 2
    assert "--requests must be >= 3" in capsys.readouterr().err
