"""The router's verdict on an answer: checked by the HLX toolkit in its format, or said to be unchecked."""

from __future__ import annotations

from typing import Any

from hlx.checker import check

# Formats with no grammar to check an answer against: a non-empty answer in them is reported unchecked
# (valid: None), never valid.
UNCHECKED_FORMATS = {"text": "free text has no grammar to check it against"}


def verdict_fields(text: str, fmt: str) -> dict[str, Any]:
    """`valid` (True, False, or None when not checked), `canonical` (when valid) and `check_error` (why
    it is not valid, or `not checked: <why>`)."""
    reason = UNCHECKED_FORMATS.get(fmt)
    if reason is not None and text.strip():
        return {"valid": None, "canonical": None, "check_error": f"not checked: {reason}"}
    verdict = check(text, text, fmt)
    return {
        "valid": verdict.valid,
        "canonical": verdict.canonical if verdict.valid else None,
        "check_error": None if verdict.valid else verdict.error,
    }
