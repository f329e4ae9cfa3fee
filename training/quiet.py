"""Silence transformers' per-load progress bars, which would interleave with the recipe's own progress."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from transformers.utils import logging as hf_logging


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Disable transformers' progress bars inside the block and restore the previous setting after."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


PEFT_CHECKPOINTING_ALIAS = r"`is_gradient_checkpointing` is deprecated"
"""The FutureWarning transformers 5 raises each time peft (building or loading an adapter) reads the alias."""


@contextmanager
def peft_without_alias_warning() -> Iterator[None]:
    """Drop only that one warning, only around peft's own model construction: nothing of ours reads the
    alias, and every job's output repeated it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PEFT_CHECKPOINTING_ALIAS, category=FutureWarning)
        yield
