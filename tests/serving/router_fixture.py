"""A finished run for the router tests: real tiny adapters trained by the recipe, and its promoted.json."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import uvicorn
import yaml
from safetensors.torch import load_file, save_file

from control.run_state import RunState, SpecialistState, save_run_state
from fileio.atomic import write_json_atomic
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.training.conftest import tiny_config_dict
from training.recipe import train_specialist

RUN_NAME = "served"
TRACKS = ("ascii", "runic")
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
LOUD = {"ascii": "loud1", "runic": "loud1"}
"""Adapters that answer with text (random LoRA weights), so there is an answer to check."""
GOOD = {"prompt": "Convert to HLXL: {C:14,0=42}", "max_new_tokens": 8}
# Built once per pytest process, however many modules ask for it.
_BUILT: dict[Path, TrainedRun] = {}


@dataclass(frozen=True)
class TrainedRun:
    """Where the fixture run lives. `adapters[name]` maps a version label to an adapter directory:
    `trained` (the newest checkpoint, promoted by default) and `older` (an earlier one) come from the
    recipe; `loud1` and `loud2` are copies of `trained` with random lora_B weights. The trained tiny
    adapters answer with EOS at once; a loud adapter answers with long text that differs per adapter, so
    a greedy answer tells which adapter served it."""

    output_dir: Path
    run_dir: Path
    base_dir: Path
    adapters: dict[str, dict[str, Path]]

    @property
    def promoted_path(self) -> Path:
        return self.run_dir / "promoted.json"

    def promotion(self, versions: dict[str, str] | None = None) -> dict[str, Any]:
        """promoted.json content promoting version `versions[name]` of each specialist (default: trained)."""
        specialists = {}
        for name, labelled in self.adapters.items():
            adapter = labelled[(versions or {}).get(name, "trained")]
            specialists[name] = {
                "checkpoint": str(adapter.parent),
                "path": str(adapter),
                "phase": "main",
                "exact_match": 0.0,
                "track": name,
                "method": "lora",
            }
        return {"specialists": specialists, "coordinator": {"path": str(self.base_dir), "kind": "base"}}

    def promote(self, versions: dict[str, str] | None = None) -> None:
        write_json_atomic(self.promoted_path, self.promotion(versions))


def write_loud_adapter(source: Path, target: Path, seed: int) -> Path:
    """A copy of adapter `source` whose lora_B weights are seeded noise (std 0.5) instead of near zero."""
    shutil.copytree(source, target)
    weights = load_file(str(target / "adapter_model.safetensors"))
    generator = torch.Generator().manual_seed(seed)
    loud = {
        key: torch.randn(value.shape, generator=generator) * 0.5 if "lora_B" in key else value
        for key, value in weights.items()
    }
    save_file(loud, str(target / "adapter_model.safetensors"))
    return target


def config_dict(output_dir: Path) -> dict[str, Any]:
    data = tiny_config_dict(output_dir, RUN_NAME)
    corpus = data["specialists"]["ascii"]["corpus"]
    data["specialists"] = {
        track: {"corpus": corpus, "track": track, "phases": [{"name": "main", "epochs": 2}]}
        for track in TRACKS
    }
    data["resources"] = {"router_num_gpus": 0}
    return data


def build_trained_run(output_dir: Path) -> TrainedRun:
    """Train the foundation and an ascii and a runic LoRA specialist (seconds), then write the run files
    `overnight run` would leave behind: config.yaml, run_state.json and promoted.json."""
    data = config_dict(output_dir)
    config = config_from_dict(data, RunConfig)
    adapters: dict[str, dict[str, Path]] = {}
    base_dir: Path | None = None
    for seed, name in enumerate(TRACKS, start=1):
        result = train_specialist(config, name, progress=False)
        assert result.status == "completed", result
        base_dir = result.base_model_dir
        kept = sorted((config.run_dir() / name / "main" / "checkpoints").glob("ckpt-*"))
        assert len(kept) >= 2, kept
        loud_dir = output_dir / "loud" / name
        adapters[name] = {
            "trained": kept[-1] / "adapter",
            "older": kept[0] / "adapter",
            "loud1": write_loud_adapter(kept[-1] / "adapter", loud_dir / "v1" / "adapter", seed),
            "loud2": write_loud_adapter(kept[-1] / "adapter", loud_dir / "v2" / "adapter", seed + 10),
        }
    assert base_dir is not None
    run_dir = config.run_dir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    state = RunState(
        run=RUN_NAME,
        config_path=str(run_dir / "config.yaml"),
        status="finished",
        specialists={name: SpecialistState(state="finished") for name in TRACKS},
    )
    save_run_state(run_dir, state)
    trained = TrainedRun(output_dir=output_dir, run_dir=run_dir, base_dir=base_dir, adapters=adapters)
    trained.promote()
    return trained


def copy_run(trained: TrainedRun, target: Path) -> TrainedRun:
    """A private copy of the run directory (same adapters), for tests that rewrite promoted.json."""
    run_dir = target / RUN_NAME
    shutil.copytree(trained.run_dir, run_dir, ignore=shutil.ignore_patterns("ckpt-*", "events"))
    copied = TrainedRun(target, run_dir, trained.base_dir, trained.adapters)
    copied.promote()
    return copied


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    root = tmp_path_factory.getbasetemp() / "router_run"
    if root not in _BUILT:
        root.mkdir(exist_ok=True)
        _BUILT[root] = build_trained_run(root)
    return _BUILT[root]


@pytest.fixture
def private_run(trained_run: TrainedRun, tmp_path: Path) -> TrainedRun:
    """A copy of the run whose promoted.json a test may change freely."""
    return copy_run(trained_run, tmp_path)


def error_of(response: Any) -> dict[str, Any]:
    """The error object of an HTTP error answer."""
    return response.json()["error"]


def read_promoted_json(trained: TrainedRun) -> dict[str, Any]:
    return json.loads(trained.promoted_path.read_text(encoding="utf-8"))


class LiveServer:
    """A uvicorn server for `app` on an ephemeral 127.0.0.1 port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
