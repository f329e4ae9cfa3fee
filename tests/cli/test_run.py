"""The driver's helpers that need no cluster: the run's own copy of its config."""

from __future__ import annotations

from pathlib import Path

from cli.run import keep_config_copy


def test_the_run_keeps_its_own_copy_of_the_config(tmp_path: Path) -> None:
    given = tmp_path / "runtime_resources" / "working_dir" / "night.yaml"  # Ray's copy, gone by morning
    given.parent.mkdir(parents=True)
    given.write_text("run: {name: night}\n")
    run_dir = tmp_path / "checkpoints" / "night"
    copy = keep_config_copy(run_dir, given)
    assert copy == run_dir / "config.yaml"
    assert copy.read_text() == "run: {name: night}\n"
    given.unlink()
    assert keep_config_copy(run_dir, given) == copy, "a rerun (resume) keeps the night's first copy"
    assert copy.read_text() == "run: {name: night}\n"
