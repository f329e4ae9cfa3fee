"""dashboards/overnight_grafana.json shows every exported metric, and only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from report.metric_samples import METRICS

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboards" / "overnight_grafana.json"
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def _queries(dashboard: dict) -> list[str]:
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    return queries + [item["expr"] for item in dashboard["annotations"]["list"]]


def _series_names(queries: list[str]) -> set[str]:
    return {name for query in queries for name in re.findall(r"\bray_overnight_[a-z_]+", query)}


def _metric_of(series: str) -> str:
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix) and series[: -len(suffix)] in {m.exported_name for m in METRICS.values()}:
            return series[: -len(suffix)]
    return series


def test_every_metric_has_a_panel_and_every_panel_a_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    shown = {_metric_of(series) for series in _series_names(_queries(dashboard))}
    assert shown == {spec.exported_name for spec in METRICS.values()}


def test_interventions_are_annotations() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    (annotation,) = dashboard["annotations"]["list"]
    assert "ray_overnight_interventions_total" in annotation["expr"]


def test_the_readme_documents_every_metric() -> None:
    readme = (DASHBOARD.parents[1] / "README.md").read_text(encoding="utf-8")
    for spec in METRICS.values():
        assert f"| `{spec.exported_name}` | {spec.kind} |" in readme, spec.exported_name
