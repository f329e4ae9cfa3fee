"""The report's line on the coordinator: where it is, and how good a pretrained base was when it was built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from settings.model import BASE_MANIFEST, GENERAL_CORPUS


def coordinator_line(coordinator: dict[str, Any]) -> str:
    """`Coordinator: <path> (<kind>).`, then the general val split's figures from the base's manifest when
    the coordinator is a built base (a night does not evaluate a base it does not train)."""
    line = f"Coordinator: `{coordinator.get('path')}` ({coordinator.get('kind')})."
    figures = _built_figures(Path(str(coordinator.get("path"))) / BASE_MANIFEST)
    return f"{line} {figures}" if figures else line


def _built_figures(manifest: Path) -> str | None:
    if not manifest.is_file():
        return None
    try:
        grades = json.loads(manifest.read_text(encoding="utf-8"))["grades"]
        free, grammar = grades["free"][GENERAL_CORPUS], grades["grammar"][GENERAL_CORPUS]
        examples = int(free["n"])
        measures = [
            f"{label} {_percent(free[key])} free and {_percent(grammar[key])} under the grammar"
            for label, key in (("exact match", "exact_match"), ("format validity", "format_validity"))
        ]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"Its {BASE_MANIFEST} has no readable figures ({err.__class__.__name__}: {err})."
    return f"When built, on the {examples} examples of the {GENERAL_CORPUS} val split: {'; '.join(measures)}."


def _percent(fraction: Any) -> str:
    return f"{float(fraction) * 100:.1f}%"
