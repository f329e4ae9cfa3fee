"""The base of every config section (strict, documented per field) and the cross-field problem helper."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from settings.errors import CROSS_FIELD_ERROR

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""A run, specialist or phase name: it becomes a directory name."""

Problems = list[tuple[tuple[str | int, ...], str]]


def raise_problems(problems: Problems) -> None:
    """Report several cross-field problems from one validator (they are expanded by ConfigError)."""
    if problems:
        raise PydanticCustomError(
            CROSS_FIELD_ERROR,
            "{count} cross-field problem(s)",
            {"count": len(problems), "problems": problems},
        )


class StrictModel(BaseModel):
    """Base of every config section: unknown keys fail, attribute docstrings become field docs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True)


class FrozenSection(BaseModel):
    """Base of the sections handed to pure code as values (grader, policies): unknown keys fail, and an
    instance cannot be changed after validation, so a policy cannot loosen its own bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
