"""Tiny run configs (a ~30k-parameter model on the 48-example fixture corpus), written as YAML to tmp dirs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "training" / "fixtures"
TINY_CORPUS = "tiny_corpus"
# Never set in tests, so every watchdog grades with the rubric and no test can reach the network.
NO_KEY_ENV = "OVERNIGHT_TESTS_UNSET_ANTHROPIC_KEY"
TRACKS = {"ascii": "ascii", "runic": "runic"}

TINY_MODEL: dict[str, Any] = {
    "vocab_size": 320,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_layers": 2,
    "num_heads": 2,
    "num_kv_heads": 1,
    "head_dim": 16,
    "max_position_embeddings": 256,
    "tokenizer_corpora": [TINY_CORPUS],
}


def tiny_run_data(
    output_dir: Path,
    name: str = "tiny",
    specialists: Sequence[str] = ("ascii", "runic"),
    epochs: int = 2,
) -> dict[str, Any]:
    """The config of /tmp/tiny_run.yaml: foundation of 1 epoch, then each specialist for `epochs` epochs."""
    return {
        "run": {"name": name, "output_dir": str(output_dir), "corpora_dir": str(FIXTURES_DIR)},
        "model": {"method": "lora", "lora": {"rank": 4, "alpha": 8}, "tiny": copy.deepcopy(TINY_MODEL)},
        "training": {
            "learning_rate": 3e-3,
            "micro_batch_size": 8,
            "max_length": 128,
            "eval_subset": 4,
            "eval_batch_size": 4,
            "max_new_tokens": 12,
            "heartbeat_interval_s": 0.2,
        },
        "foundation": {"corpus": TINY_CORPUS, "epochs": 1},
        "specialists": {
            specialist: {
                "corpus": TINY_CORPUS,
                "track": TRACKS.get(specialist, "general"),
                "phases": [{"name": "main", "epochs": epochs}],
            }
            for specialist in specialists
        },
        "grader": {"llm": {"api_key_env": NO_KEY_ENV}},
        # Test nights keep their planned length; extension has its own tests (test_supervisor_phase_length).
        "policies": {"max_extra_epochs": 0},
        "resources": {"trainer_num_cpus": 0.5},
    }


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `changes` into a copy of `base`: mappings merge, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def write_run_config(directory: Path, data: dict[str, Any], filename: str = "run.yaml") -> Path:
    """Write `data` as a YAML run config in `directory` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tiny_run_config(
    tmp_path: Path,
    name: str = "tiny",
    changes: dict[str, Any] | None = None,
    specialists: Sequence[str] = ("ascii", "runic"),
    epochs: int = 2,
) -> Path:
    """A tiny run config in `tmp_path`, writing its run to `tmp_path/out`; `changes` are deep-merged in."""
    data = merged(tiny_run_data(tmp_path / "out", name, specialists, epochs), changes or {})
    return write_run_config(tmp_path, data)
