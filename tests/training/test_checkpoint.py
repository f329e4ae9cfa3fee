"""Checkpoints: atomic writes, checksum verification with skip-to-previous, retention, RNG capture."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from training import checkpoint as ckpt
from training.schedule import LRSchedule


def save(root: Path, step: int, exact_match: float | None = None, val_loss: float | None = None) -> Path:
    def weights(directory: Path) -> None:
        (directory / "model").mkdir()
        (directory / "model" / "weights.bin").write_bytes(bytes([step % 256]) * 64)

    state = {"step": step, "exact_match": exact_match, "val_loss": val_loss}
    return ckpt.save_checkpoint(
        root,
        epoch=step // 10,
        step=step,
        write_weights=weights,
        trainer_state={"x": torch.tensor([step])},
        state=state,
    )


def test_save_writes_a_verifiable_manifest(tmp_path: Path) -> None:
    path = save(tmp_path, 5)
    assert path.name == "ckpt-0001-e0-s5"
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model/weights.bin", "state.json", "trainer_state.pt"}
    assert ckpt.verify_checkpoint(path) is None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    save(tmp_path, 1)

    def broken(directory: Path) -> None:
        (directory / "partial.bin").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(tmp_path, 0, 2, broken, {}, {})
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-0001-e0-s1"]


def test_temporary_directories_are_never_listed(tmp_path: Path) -> None:
    save(tmp_path, 1)
    (tmp_path / ".tmp-ckpt-0002-e0-s2-abc").mkdir()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["ckpt-0001-e0-s1"]


def test_corrupt_newest_is_skipped_for_the_previous_with_the_reason(tmp_path: Path) -> None:
    older = save(tmp_path, 1)
    newer = save(tmp_path, 2)
    weights = newer / "model" / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[0] ^= 0xFF
    weights.write_bytes(bytes(data))
    found, skipped = ckpt.newest_valid_checkpoint(tmp_path)
    assert found == older
    assert [s.path for s in skipped] == [newer]
    assert "model/weights.bin fails its checksum" in skipped[0].reason


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: (p / "manifest.json").unlink(), "no manifest.json"),
        (lambda p: (p / "state.json").unlink(), "state.json is missing"),
        (lambda p: (p / "manifest.json").write_text("{oops"), "unreadable manifest.json"),
        (
            lambda p: (p / "model" / "weights.bin").write_bytes(b"short"),
            "model/weights.bin has 5 bytes, manifest says 64",
        ),
    ],
)
def test_verify_names_what_is_wrong(tmp_path: Path, damage, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = save(tmp_path, 3)
    damage(path)
    assert reason in (ckpt.verify_checkpoint(path) or "")


def test_no_valid_checkpoint_returns_none_and_all_reasons(tmp_path: Path) -> None:
    path = save(tmp_path, 1)
    (path / "manifest.json").unlink()
    assert ckpt.newest_valid_checkpoint(tmp_path)[0] is None
    assert ckpt.newest_valid_checkpoint(tmp_path / "missing") == (None, [])


def test_retention_keeps_the_last_k_and_the_best(tmp_path: Path) -> None:
    paths = [
        save(tmp_path, step, exact_match=em, val_loss=1.0)
        for step, em in [(1, 0.2), (2, 0.9), (3, 0.5), (4, None), (5, 0.4)]
    ]
    removed = ckpt.apply_retention(tmp_path, keep_last=2)
    assert set(removed) == {paths[0], paths[2]}
    assert ckpt.list_checkpoints(tmp_path) == [paths[1], paths[3], paths[4]]
    assert ckpt.best_checkpoint(tmp_path) == paths[1]


def test_best_breaks_ties_on_val_loss_then_recency(tmp_path: Path) -> None:
    first = save(tmp_path, 1, exact_match=0.5, val_loss=2.0)
    second = save(tmp_path, 2, exact_match=0.5, val_loss=1.0)
    assert ckpt.best_checkpoint(tmp_path) == second
    third = save(tmp_path, 3, exact_match=0.5, val_loss=1.0)
    assert ckpt.best_checkpoint(tmp_path) == third
    assert first.exists()


def test_rng_capture_restores_python_numpy_and_torch(tmp_path: Path) -> None:
    ckpt.seed_everything(11)
    state = ckpt.capture_rng()
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2))
    ckpt.seed_everything(99)
    ckpt.restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


@pytest.mark.parametrize(
    ("shape", "progress", "factor"),
    [
        ("cosine", 0.05, 0.5),
        ("cosine", 0.1, 1.0),
        ("cosine", 0.55, 0.5),
        ("cosine", 1.0, 0.0),
        ("linear", 0.55, 0.5),
        ("linear", 1.0, 0.0),
        ("constant", 0.9, 1.0),
    ],
)
def test_schedule_warms_up_then_decays(shape: str, progress: float, factor: float) -> None:
    schedule = LRSchedule(peak_lr=2.0, warmup_ratio=0.1, shape=shape, min_lr_ratio=0.0)  # type: ignore[arg-type]
    assert schedule.lr_at(progress) == pytest.approx(2.0 * factor)
    assert LRSchedule.from_state(schedule.state_dict()) == schedule


def test_schedule_floor_is_min_lr_ratio() -> None:
    schedule = LRSchedule(peak_lr=1.0, warmup_ratio=0.0, shape="cosine", min_lr_ratio=0.1)
    assert schedule.lr_at(1.0) == pytest.approx(0.1)
    assert schedule.lr_at(0.0) == pytest.approx(1.0)
