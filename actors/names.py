"""The names of a night's Ray actors, in one leaf module that any process can import for nothing."""

from __future__ import annotations

NAMESPACE = "overnight"
SUPERVISOR_NAME = "supervisor"


def trainer_name(specialist: str) -> str:
    return f"trainer:{specialist}"


def watchdog_name(specialist: str) -> str:
    return f"watchdog:{specialist}"
