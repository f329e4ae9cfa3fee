"""How far each specialist ended from its target, for the morning report: the rubric's full-marks bars
(exact match `accuracy_excellent`, format validity `format_perfect`), as the run's config sets them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.rubric import RubricThresholds
from control.run_files import RUN_CONFIG_FILE


@dataclass(frozen=True)
class Target:
    """One metric's bar and where the specialist stands against it."""

    metric: str
    target: float
    value: float | None

    @property
    def distance(self) -> float | None:
        """How far below the target (0 when met); None without a value."""
        if self.value is None or not math.isfinite(self.value):
            return None
        return max(0.0, self.target - self.value)

    def text(self) -> str:
        if self.distance is None:
            return f"no data (target {self.target:.2f})"
        if self.distance == 0:
            return f"{self.value:.2f}: met (target {self.target:.2f})"
        return f"{self.value:.2f}: {self.distance:.2f} short of {self.target:.2f}"


def run_thresholds(run_dir: Path) -> tuple[RubricThresholds, str]:
    """The rubric thresholds of the run's own config copy, and where they came from (defaults when the
    copy is missing or its section is unusable: the report must still be written)."""
    path = run_dir / RUN_CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        section = ((data.get("grader") or {}).get("rubric")) or {}
        return RubricThresholds(**section), f"{path.name} (grader.rubric)"
    except (OSError, yaml.YAMLError, AttributeError, TypeError, ValueError) as err:
        return RubricThresholds(), f"the rubric's defaults ({path.name}: {type(err).__name__})"


def targets_of(summary: dict[str, Any], thresholds: RubricThresholds) -> list[Target]:
    """Best exact match and final format validity of one specialist's summary, against their bars."""
    best = (summary.get("best_exact_match") or {}).get("exact_match")
    final = (summary.get("final_metrics") or {}).get("format_validity")
    return [
        Target("exact match (best)", thresholds.accuracy_excellent, _number(best)),
        Target("format validity (final)", thresholds.format_perfect, _number(final)),
    ]


def targets_section(run_dir: Path, specialists: dict[str, dict[str, Any]]) -> list[str]:
    """The report's markdown: one row per specialist with each metric's distance to its target."""
    thresholds, source = run_thresholds(run_dir)
    lines = ["## Distance to target", "",
             f"Targets are the rubric's full-marks bars, from {source}: exact match "
             f"{thresholds.accuracy_excellent:.2f}, format validity {thresholds.format_perfect:.2f}.", "",
             "| specialist | exact match (best) | format validity (final) |", "|---|---|---|"]  # fmt: skip
    for name, summary in specialists.items():
        cells = [target.text() for target in targets_of(summary, thresholds)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
