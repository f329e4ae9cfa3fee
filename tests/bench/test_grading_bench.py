"""Smoke run of bench/grading.py with tiny sizes: it writes and prints JSON with every key, as numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.grading import main

NUMERIC_KEYS = {
    "rubric": ["median_ms", "p95_ms", "min_ms", "reps", "target_ms"],
    "llm_path_local_server": ["median_ms", "p95_ms", "min_ms", "reps", "overhead_vs_rubric_ms"],
    "llm_fallback_no_key": ["median_ms", "p95_ms", "min_ms", "reps"],
    "window": ["epochs", "step_losses"],
}


def test_bench_writes_every_key_as_a_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "grading.json"
    assert main(["--reps", "3", "--llm-reps", "2", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == results
    for section, keys in NUMERIC_KEYS.items():
        for key in keys:
            value = results[section][key]
            assert isinstance(value, int | float) and not isinstance(value, bool), (section, key, value)
            assert math.isfinite(value)
    assert results["window"] == {"epochs": 10, "step_losses": 500}
    assert (results["rubric"]["reps"], results["llm_path_local_server"]["reps"]) == (3, 2)
    assert isinstance(results["rubric"]["within_target"], bool)
    assert results["environment"]["anthropic"]


def test_bench_rejects_zero_repetitions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--reps", "0"])
    assert exit_info.value.code == 2
    assert "--reps and --llm-reps must be at least 1, got 0 and 50" in capsys.readouterr().err
