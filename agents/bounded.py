"""Bounded texts: nothing the API sends reaches a grade, an event or the log at more than a fixed length."""

from __future__ import annotations

MAX_REASON_CHARS = 300
"""Longest fallback reason, error message or quoted value: a 2 MB error message is not a 2 MB log line."""


def bounded(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """`text` cut to `limit` characters, with a note giving the original length when it was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [truncated from {len(text)} characters]"


def truncate(text: str, limit: int, what: str, notes: list[str]) -> str:
    """`bounded(text, limit)`, saying in `notes` that `what` was cut."""
    if len(text) > limit:
        notes.append(f"{what} truncated from {len(text)} to {limit} characters")
    return bounded(text, limit)


def quote(value: object, limit: int = 80) -> str:
    """A bounded repr of anything a server sent, even nested too deep to repr."""
    try:
        return bounded(repr(value), limit)
    except RecursionError:
        return f"<{type(value).__name__} nested too deep to quote>"
