"""`overnight status` as plain text for pipes and files: one line per specialist, never wrapped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from report.views import STATUS_COLUMNS, status_cells

GAP = "  "


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns padded to their widest cell, two spaces apart; a row is always one line."""
    cells = [[str(column) for column in columns]] + [[_one_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(columns))]
    lines = [GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "".join(line.rstrip() + "\n" for line in lines)


def status_text(state: Mapping[str, Any]) -> str:
    """The status table of a RunState dict as plain text (the same columns as the terminal's table)."""
    specialists = state.get("specialists") or {}
    if not specialists:
        return "no specialists yet\n"
    return plain_table(STATUS_COLUMNS, [status_cells(name, spec) for name, spec in specialists.items()])


def _one_line(cell: Any) -> str:
    # rich Text (the state cell) renders as its plain string; a newline would break the one-row-one-line rule.
    return str(getattr(cell, "plain", cell)).replace("\n", " ")
