"""A run's copy of the shipped base: under its output directory, keyed by the weights' sha256, made once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import settings.model as model_settings
import training.shipped_base as shipped_base
from settings.model import BASE_FILES, BUILTIN_HLX
from settings.recipe import config_from_dict
from training.recipe import base_model_dir
from training.shipped_base import pinned_shipped_base


def write_base(directory: Path, weights: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        (directory / name).write_text("{}")
    (directory / "model.safetensors").write_bytes(weights)
    digest = hashlib.sha256(weights).hexdigest()
    (directory / "base.json").write_text(json.dumps({"weights_sha256": digest}))
    return digest


def test_the_base_is_copied_once_under_a_name_keyed_by_its_weights(tmp_path: Path) -> None:
    source = tmp_path / "models" / "hlx-base"
    digest = write_base(source, b"first weights")

    pinned = pinned_shipped_base(tmp_path / "cache", source)

    assert pinned == tmp_path / "cache" / f"hlx-base-{digest[:12]}"
    assert (pinned / "model.safetensors").read_bytes() == b"first weights"
    assert sorted(p.name for p in pinned.iterdir()) == sorted(p.name for p in source.iterdir())
    # Made once: a second call reuses the copy as it is.
    (pinned / "marker").write_text("kept")
    assert pinned_shipped_base(tmp_path / "cache", source) == pinned and (pinned / "marker").is_file()


def test_a_rebuilt_base_gets_its_own_copy_and_the_old_one_stays(tmp_path: Path) -> None:
    source = tmp_path / "models" / "hlx-base"
    write_base(source, b"first weights")
    first = pinned_shipped_base(tmp_path / "cache", source)
    write_base(source, b"rebuilt weights")
    second = pinned_shipped_base(tmp_path / "cache", source)
    assert second != first
    assert (first / "model.safetensors").read_bytes() == b"first weights"
    assert (second / "model.safetensors").read_bytes() == b"rebuilt weights"


def test_a_night_on_builtin_hlx_trains_on_the_copy_under_its_output_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "checkout" / "models" / "hlx-base"
    digest = write_base(source, b"weights")
    monkeypatch.setattr(model_settings, "SHIPPED_BASE_DIR", source)
    monkeypatch.setattr(shipped_base, "SHIPPED_BASE_DIR", source)
    config = config_from_dict(
        {
            "run": {"output_dir": str(tmp_path / "out")},
            "model": {"base_model": BUILTIN_HLX},
            "specialists": {},
        }
    )
    assert base_model_dir(config) == tmp_path / "out" / "_builtin" / f"hlx-base-{digest[:12]}"
