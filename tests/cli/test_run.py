"""The driver's helpers that need no cluster: finding the run's own Ray cluster again."""

from __future__ import annotations

import socket
from pathlib import Path

from cli.run import RAY_ADDRESS_FILE, keep_config_copy, recorded_address


def test_no_address_file_means_no_recorded_cluster(tmp_path: Path) -> None:
    assert recorded_address(tmp_path) is None


def test_a_cluster_that_answers_is_the_one_used(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        (tmp_path / RAY_ADDRESS_FILE).write_text(address + "\n")
        assert recorded_address(tmp_path) == address


def test_a_cluster_that_is_gone_is_not_used(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free again once closed: nothing listens there
    (tmp_path / RAY_ADDRESS_FILE).write_text(f"127.0.0.1:{port}\n")
    assert recorded_address(tmp_path) is None


def test_a_garbled_address_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / RAY_ADDRESS_FILE).write_text("not an address\n")
    assert recorded_address(tmp_path) is None


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
