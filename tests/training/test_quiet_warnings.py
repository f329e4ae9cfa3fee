"""peft's read of a deprecated transformers alias no longer prints a FutureWarning in every job's output."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from settings.recipe import ModelSection, TinyModelSection
from training.model import load_for_training
from training.quiet import peft_without_alias_warning
from training.tiny_model import ensure_tiny_base

from .conftest import FIXTURE_CORPUS, TINY_MODEL


def test_building_a_lora_model_warns_nothing(tmp_path: Path) -> None:
    tiny = TinyModelSection(**TINY_MODEL)
    base = ensure_tiny_base(tiny, [FIXTURE_CORPUS / "train.jsonl"], tmp_path)
    settings = ModelSection(method="lora", lora={"rank": 4, "alpha": 8}, tiny=TINY_MODEL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, the FutureWarning included, fails the test
        model = load_for_training(base, settings, "lora", torch.device("cpu"), init_seed=0)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 0


def test_only_that_warning_is_dropped() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with peft_without_alias_warning():
            alias = "`is_gradient_checkpointing` is deprecated"
            warnings.warn(f"{alias} and will be removed in v6.", FutureWarning, stacklevel=1)
            warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
            warnings.warn(alias, UserWarning, stacklevel=1)
    assert [(str(w.message), w.category) for w in caught] == [
        ("something else is deprecated", FutureWarning),
        ("`is_gradient_checkpointing` is deprecated", UserWarning),
    ]
