"""Tiny inline configs (a ~30k-parameter Qwen3 on a 48-example corpus) so each training test takes seconds."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from settings.recipe import RecipeConfig, config_from_dict
from training.events import Event
from training.hooks import TrainerHooks

FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "tiny_corpus"

TINY_MODEL = {
    "vocab_size": 320,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_layers": 2,
    "num_heads": 2,
    "num_kv_heads": 1,
    "head_dim": 16,
    "max_position_embeddings": 256,
    "tokenizer_corpora": [str(FIXTURE_CORPUS)],
}


def tiny_config_dict(output_dir: Path, name: str = "t") -> dict[str, Any]:
    corpus = str(FIXTURE_CORPUS)
    return {
        "run": {"name": name, "output_dir": str(output_dir), "seed": 0},
        "model": {"method": "lora", "lora": {"rank": 4, "alpha": 8}, "tiny": copy.deepcopy(TINY_MODEL)},
        "training": {
            "learning_rate": 3e-3,
            "micro_batch_size": 8,
            "max_length": 128,
            "eval_subset": 4,
            "eval_batch_size": 4,
            "max_new_tokens": 12,
            "heartbeat_interval_s": 0.05,
            "keep_last": 2,
        },
        "foundation": {"corpus": corpus, "epochs": 1},
        "specialists": {
            "ascii": {"corpus": corpus, "track": "ascii", "phases": [{"name": "main", "epochs": 2}]},
        },
    }


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `changes` into a copy of `base` (dicts merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="session")
def shared_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output dir per session, so the builtin base and the foundation are built once."""
    return tmp_path_factory.mktemp("overnight_output")


@pytest.fixture
def make_config(shared_output: Path, request: pytest.FixtureRequest) -> Callable[..., RecipeConfig]:
    """make_config(**changes) -> a tiny config whose run name is unique to the calling test."""
    counter = iter(range(1000))

    def build(changes: dict[str, Any] | None = None) -> RecipeConfig:
        name = f"{request.node.name[:40]}-{next(counter)}".replace("[", "_").replace("]", "_")
        return config_from_dict(merge(tiny_config_dict(shared_output, name), changes or {}))

    return build


class Recorder(TrainerHooks):
    """Hooks that keep every event, for assertions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        super().on_event(event)

    def of_kind(self, kind: str, specialist: str | None = "ascii") -> list[Any]:
        """Events of one kind; by default only the specialist's (a first test also trains the foundation)."""
        return [
            event
            for event in self.events
            if event.kind == kind and (specialist is None or event.specialist == specialist)  # type: ignore[attr-defined]
        ]
