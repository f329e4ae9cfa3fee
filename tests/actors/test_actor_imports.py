"""What each process of a night imports: Ray makes a process that creates or hosts an actor import the module
its class lives in, so the supervisor and the driver must not load the recipe or the LLM SDK for it."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from actors.trainer_actor import TrainerActor
from actors.watchdog_actor import WatchdogActor
from tests.actors.run_configs import REPO_ROOT

HEAVY = (
    "torch",
    "transformers",
    "peft",
    "anthropic",
    "actors.supervisor",
    "actors.trainer",
    "actors.watchdog",
)


def loaded_after(module: str) -> set[str]:
    """The HEAVY modules a fresh interpreter has loaded after importing `module`."""
    code = f"import json, sys, {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        # The supervisor's process (and the driver's): the supervisor, never torch, the recipe or the LLM SDK.
        ("actors.remote", {"actors.supervisor"}),
        # A trainer's or a watchdog's process before its actor's __init__ runs: nothing heavy at all.
        ("actors.trainer_actor", set()),
        ("actors.watchdog_actor", set()),
    ],
)
def test_an_actor_module_loads_only_what_its_process_needs(module: str, allowed: set[str]) -> None:
    assert loaded_after(module) <= allowed


def public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_the_actor_shells_forward_every_public_method() -> None:
    from actors.trainer import Trainer
    from actors.watchdog import Watchdog

    assert public_methods(WatchdogActor) == public_methods(Watchdog)
    assert public_methods(TrainerActor) == public_methods(Trainer)
