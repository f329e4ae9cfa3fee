"""Finding the run's own Ray cluster again without connecting: its recorded address, when it answers."""

from __future__ import annotations

import socket
from pathlib import Path

from actors.connect import recorded_address
from control.run_files import RAY_ADDRESS_FILE


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
