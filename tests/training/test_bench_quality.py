"""The quality bench trains from a cold start (or says it did not) and grades per task family."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.quality import run

from .conftest import tiny_config_dict


@pytest.mark.slow
def test_quality_bench_says_whether_the_foundation_was_cold_or_cached(tmp_path: Path) -> None:
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(tiny_config_dict(tmp_path / "unused")), encoding="utf-8")

    cold = run(config_path, tmp_path / "cold", "ascii")
    assert cold["foundation_start"] == "cold"
    assert cold["status"] == {"foundation": "completed", "ascii": "completed"}
    grades = cold["ascii"]
    assert grades["n"] == sum(score["n"] for score in grades["per_task"].values()) > 0
    for score in grades["per_task"].values():
        assert 0 <= score["exact_match"] <= 1 and 0 <= score["format_validity"] <= 1
    assert cold["coordinator"]["n"] > 0

    cached = run(config_path, tmp_path / "cached", "ascii", cached_builtin=tmp_path / "cold" / "_builtin")
    assert cached["foundation_start"] == "cached"
    assert cached["target"]["met"] is False  # a cached foundation never counts for the cold-start target
