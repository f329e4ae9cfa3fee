"""Failure logs that hold no secrets: no local variables (headers, keys), prompts and messages clipped."""

from __future__ import annotations

import traceback

CLIP_CHARS = 80


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out (users' prompts are logged this way)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def failure_fields(err: BaseException) -> dict[str, str]:
    """What a log needs to find a bug: the exception's type, its message clipped, and the frames (file, line,
    code) without local variables. Use instead of `log.exception`, whose rich renderer prints every frame's
    locals (the request's Authorization header, whole prompts)."""
    return {
        "error": clip(f"{type(err).__name__}: {err}", 300),
        "traceback": "".join(traceback.format_tb(err.__traceback__)),
    }
