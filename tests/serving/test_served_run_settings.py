"""The router's settings come from the run's config tree (serving.served_run.run_settings): its `router`
section, validated, typos refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.routing import RouterError, RouterSettings
from serving.served_run import run_settings


def run_dir_with(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return tmp_path


def test_the_router_section_and_gpus_are_read_from_the_runs_config(tmp_path: Path) -> None:
    # A run trained elsewhere (qlora on a GPU, its base model directory not here) is still readable.
    data = {
        "model": {"base_model": str(tmp_path / "elsewhere"), "method": "qlora"},
        "training": {"max_new_tokens": 40},
        "resources": {"router_num_gpus": 0.5},
        "router": {"batch_max_size": 4, "batch_wait_ms": 0, "torch_threads": 1},
    }
    settings, gpus = run_settings(run_dir_with(tmp_path, data))
    assert gpus == 0.5
    limits = RouterSettings(**settings)
    assert (limits.batch_max_size, limits.batch_wait_ms, limits.torch_threads) == (4, 0, 1)
    assert (limits.default_max_new_tokens, limits.max_new_tokens_limit) == (40, 512)


def test_a_typo_in_the_router_section_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    run_dir = run_dir_with(tmp_path, {"router": {"batch_size": 4}})
    typo = r"router\.batch_size: unknown key 'batch_size' in router — did you mean 'batch_max_size'\?"
    with pytest.raises(RouterError, match=typo):
        run_settings(run_dir)


def test_a_run_without_a_config_gets_the_defaults(tmp_path: Path) -> None:
    assert run_settings(tmp_path) == ({}, 0.0)


def test_grammar_decoding_is_on_unless_the_router_section_turns_it_off(tmp_path: Path) -> None:
    assert RouterSettings().constrained_decoding is True
    settings, _ = run_settings(run_dir_with(tmp_path, {"router": {"batch_max_size": 4}}))
    assert settings["constrained_decoding"] is True
    settings, _ = run_settings(run_dir_with(tmp_path, {"router": {"constrained_decoding": False}}))
    assert RouterSettings(**settings).constrained_decoding is False
    with pytest.raises(RouterError, match=r"router\.constrained_decoding"):
        run_settings(run_dir_with(tmp_path, {"router": {"constrained_decoding": "sometimes"}}))
