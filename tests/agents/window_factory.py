"""Builders of metric windows for the grader tests: one call describes a whole window in a table row."""

from __future__ import annotations

from agents.metrics import EpochRecord, MetricWindow


def decreasing_steps(count: int = 40, start: float = 2.0, factor: float = 0.97) -> list[float]:
    """A smooth geometric loss curve."""
    return [start * factor**step for step in range(count)]


def make_window(val_losses: list[float] | None = None, *, exact: float | list[float] = 0.97,
                validity: float | list[float] = 1.0, lrs: list[float] | None = None,
                steps: list[float] | None = None, faults: list[str] | None = None) -> MetricWindow:
    """A window whose unspecified parts are healthy: falling val loss, high accuracy, smooth steps."""
    val_losses = val_losses if val_losses is not None else [1.0, 0.8, 0.6, 0.5]
    count = len(val_losses)
    exact_list = exact if isinstance(exact, list) else [exact] * count
    validity_list = validity if isinstance(validity, list) else [validity] * count
    lr_list = lrs if lrs is not None else [1e-4] * count
    epochs = [
        EpochRecord(epoch=index + 1, val_loss=val_losses[index], exact_match=exact_list[index],
                    format_validity=validity_list[index], lr=lr_list[index])
        for index in range(count)
    ]
    return MetricWindow(specialist="ascii_specialist", phase="phase2", epochs=epochs,
                        step_losses=steps if steps is not None else decreasing_steps(),
                        hard_faults=faults or [])
