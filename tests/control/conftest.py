"""Fixtures shared by the control tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.inbox import make_inbox


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "inbox"
    make_inbox(root)
    return root
