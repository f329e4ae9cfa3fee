"""Rich progress bar for a phase: epoch, step, loss, tokens/s and ETA (a no-op when disabled)."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from training.events import StepMetrics


def progress_wanted(setting: bool | None) -> bool:
    """None means: show it when stderr is a terminal."""
    return sys.stderr.isatty() if setting is None else setting


class PhaseProgress:
    """One bar per phase; its unit is examples, so the ETA stays right when the batch size changes."""

    def __init__(self, enabled: bool, label: str, total_examples: int, epochs: int) -> None:
        self.enabled = enabled
        self.epochs = epochs
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._progress.add_task(label, total=total_examples, detail="")

    def __enter__(self) -> PhaseProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def step(self, metrics: StepMetrics) -> None:
        if self._progress is None:
            return
        detail = (
            f"epoch {metrics.epoch + 1}/{self.epochs} step {metrics.step} loss {metrics.loss:.4f} "
            f"lr {metrics.lr:.2e} {metrics.tokens_per_s:,.0f} tok/s"
        )
        self._progress.update(self._task, completed=metrics.examples_seen, detail=detail)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, detail=text)

    def reset_to(self, examples_seen: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=examples_seen)
