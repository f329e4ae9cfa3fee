"""Fault injection for chaos tests (each fault fires once per phase directory) and OOM recognition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch

from fileio.atomic import write_json_atomic
from settings.recipe import FaultInjection

InjectedKind = Literal["nan", "oom", "hang", "crash", "disk_full", "spike"]
REGISTRY = "injected_faults.json"
CRASH_EXIT_CODE = 70
SPIKE_FACTOR = 100.0
"""spike_at_step multiplies that step's loss by this: far outside any window, and still finite."""
# Substrings of the errors allocators raise when memory runs out (PyTorch CPU, glibc, CUDA, MPS).
ALLOCATION_FAILURES = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "defaultcpuallocator",
    "failed to allocate",
)


class InjectedCrash(RuntimeError):
    """Raised by crash_at_step with crash_mode 'exception'."""


class SimulatedOOM(torch.OutOfMemoryError):
    """Raised by oom_at_step; handled exactly like a real out-of-memory error."""


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA OOM, a MemoryError, or a RuntimeError whose message is an allocation failure."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    if isinstance(error, RuntimeError):
        message = str(error).lower()
        return any(marker in message for marker in ALLOCATION_FAILURES)
    return False


class FaultInjector:
    """Decides which injected fault fires at a step. Firing is recorded in <phase_dir>/injected_faults.json
    before the fault happens, so a restarted trainer resumes past it (delete the file to re-arm)."""

    def __init__(self, settings: FaultInjection, phase_dir: Path) -> None:
        self.settings = settings
        self.registry = phase_dir / REGISTRY

    def _fired(self) -> list[str]:
        if not self.registry.is_file():
            return []
        return list(json.loads(self.registry.read_text(encoding="utf-8")))

    def fire(self, kind: InjectedKind, step: int) -> bool:
        """True (and recorded) when `kind` is configured for `step` and has not fired before."""
        target = getattr(self.settings, f"{kind}_at_step")
        if target != step:
            return False
        token = f"{kind}@{step}"
        fired = self._fired()
        if token in fired:
            return False
        write_json_atomic(self.registry, [*fired, token])
        return True

    def fire_from(self, kind: InjectedKind, step: int) -> bool:
        """Like fire, for faults that wait for an occasion (a checkpoint write) at or after their step."""
        target = getattr(self.settings, f"{kind}_at_step")
        if target is None or step < target:
            return False
        token = f"{kind}@{target}"
        fired = self._fired()
        if token in fired:
            return False
        write_json_atomic(self.registry, [*fired, token])
        return True

    @property
    def active(self) -> bool:
        return any(
            getattr(self.settings, f"{kind}_at_step") is not None
            for kind in ("nan", "oom", "hang", "crash", "disk_full", "spike")
        )
