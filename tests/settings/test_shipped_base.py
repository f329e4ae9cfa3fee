"""The shipped base's check at config load: present, and its weights match the manifest's sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import settings.model as model_settings
from settings.errors import ConfigError
from settings.model import BASE_FILES, BUILTIN_HLX, base_model_path, shipped_base_problem
from settings.recipe import config_from_dict


def fake_base(directory: Path, weights: bytes, recorded_sha: str) -> Path:
    """A base directory with every file a base needs; only the weights' bytes and the manifest matter here."""
    directory.mkdir(parents=True)
    for name in BASE_FILES:
        (directory / name).write_text("{}")
    (directory / "model.safetensors").write_bytes(weights)
    (directory / "base.json").write_text(json.dumps({"weights_sha256": recorded_sha}))
    return directory


def test_a_base_whose_weights_match_its_manifest_is_accepted(tmp_path: Path) -> None:
    weights = b"weights of a base"
    base = fake_base(tmp_path / "base", weights, hashlib.sha256(weights).hexdigest())
    assert shipped_base_problem(base) is None


def test_corrupt_weights_are_refused_with_the_command_that_rebuilds_them(tmp_path: Path) -> None:
    base = fake_base(
        tmp_path / "base", b"weights of a base, one byte flipped", hashlib.sha256(b"x").hexdigest()
    )
    problem = shipped_base_problem(base)
    assert problem is not None
    assert "are corrupt (sha256 differs from base.json)" in problem
    assert "rebuild it with `overnight base build`" in problem


@pytest.mark.parametrize("missing", ["model.safetensors", "base.json", "config.json", "tokenizer.json"])
def test_a_missing_file_of_the_base_is_refused_with_the_command_that_rebuilds_it(
    tmp_path: Path, missing: str
) -> None:
    base = fake_base(tmp_path / "base", b"w", hashlib.sha256(b"w").hexdigest())
    (base / missing).unlink()
    problem = shipped_base_problem(base)
    assert problem is not None
    assert f"the shipped base '{BUILTIN_HLX}' is missing {missing} in {base}" in problem
    assert "`overnight base build`" in problem


def test_an_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    base = fake_base(tmp_path / "base", b"w", "")
    (base / "base.json").write_text("{not json")
    problem = shipped_base_problem(base)
    assert problem is not None
    assert problem.startswith(f"the shipped base's manifest {base / 'base.json'} is unreadable (")


def test_a_config_on_a_missing_shipped_base_fails_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_settings, "SHIPPED_BASE_DIR", tmp_path / "nowhere")
    with pytest.raises(ConfigError) as error:
        config_from_dict({"model": {"base_model": BUILTIN_HLX}, "specialists": {}})
    assert "model.base_model" in str(error.value)
    assert "`overnight base build`" in str(error.value)
    assert base_model_path(BUILTIN_HLX) == tmp_path / "nowhere"
