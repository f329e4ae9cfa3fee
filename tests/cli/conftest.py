"""Fixtures the command-line tests share with the training tests (one built base per session)."""

from tests.training.conftest import shared_output

__all__ = ["shared_output"]
