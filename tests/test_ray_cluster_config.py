"""ray_cluster.yaml passes Ray's own cluster-launcher validation."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.commands import prepare_config
from ray.autoscaler._private.util import validate_config

CONFIG_PATH = Path(__file__).resolve().parents[1] / "ray_cluster.yaml"


def test_cluster_config_passes_ray_validation() -> None:
    raw = yaml.safe_load(CONFIG_PATH.read_text())
    validate_config(prepare_config(raw))


def test_cluster_config_has_gpu_workers_and_installs_the_project() -> None:
    raw = yaml.safe_load(CONFIG_PATH.read_text())
    workers = raw["available_node_types"]["gpu_worker"]
    assert workers["resources"]["GPU"] >= 1
    assert any("install.sh" in command for command in raw["setup_commands"])


def test_ray_validation_rejects_an_unknown_key() -> None:
    raw = yaml.safe_load(CONFIG_PATH.read_text())
    raw["available_node_types"]["gpu_worker"]["gpus_per_node"] = 1
    with pytest.raises(jsonschema.ValidationError, match="gpus_per_node"):
        validate_config(prepare_config(raw))
