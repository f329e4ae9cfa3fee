"""Records `report.metric_samples` samples as Ray metrics, which Ray exports to Prometheus."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ray.util import metrics as ray_metrics

from report.metric_samples import METRICS, MetricSpec, Sample


def _build(spec: MetricSpec) -> Any:
    if spec.kind == "gauge":
        return ray_metrics.Gauge(spec.name, description=spec.description, tag_keys=spec.tags)
    if spec.kind == "counter":
        return ray_metrics.Counter(spec.name, description=spec.description, tag_keys=spec.tags)
    return ray_metrics.Histogram(
        spec.name, description=spec.description, boundaries=list(spec.boundaries), tag_keys=spec.tags
    )


class MetricsRecorder:
    """One per process that records (the supervisor, the router). Metrics are created on first use.

    Ray exports a gauge only for a while after its last `set` (about 20 s in Ray 2.60), so the recorder
    keeps each gauge series' last value and `refresh()` sets them again: a finished specialist's last
    loss stays on the dashboard instead of vanishing."""

    def __init__(self) -> None:
        self._metrics: dict[str, Any] = {}
        self._gauges: dict[tuple[str, tuple[tuple[str, str], ...]], Sample] = {}

    def refresh(self) -> None:
        """Set every gauge series again to its last value."""
        self.record(list(self._gauges.values()))

    def record(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            spec = METRICS[sample.name]
            if set(sample.tags) != set(spec.tags):
                raise ValueError(
                    f"metric {sample.name}: tags {sorted(sample.tags)}, expected {sorted(spec.tags)}"
                )
            if spec.kind == "counter" and sample.value == 0:
                continue  # Ray refuses a zero increment, and it would change nothing
            metric = self._metrics.get(sample.name)
            if metric is None:
                metric = self._metrics[sample.name] = _build(spec)
            tags = sample.tags or None
            if spec.kind == "gauge":
                self._gauges[(sample.name, tuple(sorted(sample.tags.items())))] = sample
                metric.set(sample.value, tags=tags)
            elif spec.kind == "counter":
                metric.inc(sample.value, tags=tags)
            else:
                metric.observe(sample.value, tags=tags)
