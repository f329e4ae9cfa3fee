"""Serving metrics hooks: where samples go, and recording that never fails a request."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import structlog

from report.metric_samples import Sample

log = structlog.get_logger(__name__)


class SampleSink(Protocol):
    """actors.metrics.MetricsRecorder, or a test's list of samples."""

    def record(self, samples: Iterable[Sample]) -> None: ...


def record_quietly(sink: SampleSink | None, samples: list[Sample]) -> None:
    """Record `samples` when there is a sink; a metrics failure is logged, and the answer still goes out."""
    if sink is None:
        return
    try:
        sink.record(samples)
    except Exception as err:  # metrics are an observer: they never cost a request its answer
        log.warning("metrics not recorded", metrics=sorted({s.name for s in samples}), error=repr(err)[:200])
