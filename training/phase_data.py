"""What a phase trains: its tokenized splits (with each epoch's order) and its model, loaded from the plan."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from training.data import EncodedExample, Example, OverlongReport, epoch_order, load_split
from training.model import load_for_training, load_weights_into
from training.plan import PhasePlan


@dataclass
class PhaseData:
    """Both splits, tokenized once; overlong examples are reported, then truncated or dropped."""

    train_examples: list[Example]
    train: list[EncodedExample]
    overlong_train: OverlongReport
    val_examples: list[Example]
    val: list[EncodedExample]
    overlong_val: OverlongReport
    seed: int
    bucket_size: int
    _orders: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, plan: PhasePlan, tokenizer: PreTrainedTokenizerBase) -> PhaseData:
        settings = plan.settings
        train_files = [plan.corpus_dir / "train.jsonl", *plan.extra_train]
        train = load_split(train_files, tokenizer, settings.max_length, settings.overlong)
        val = load_split(plan.corpus_dir / "val.jsonl", tokenizer, settings.max_length, settings.overlong)
        return cls(*train, *val, seed=plan.seed, bucket_size=settings.bucket_size)

    def order(self, epoch: int) -> list[int]:
        """Train indices of `epoch` (see epoch_order); the current epoch's is kept, not recomputed."""
        if epoch not in self._orders:
            lengths = [len(example) for example in self.train]
            self._orders = {epoch: epoch_order(lengths, self.seed, epoch, self.bucket_size)}
        return self._orders[epoch]


def load_phase_model(plan: PhasePlan, device: torch.device) -> PreTrainedModel:
    """Fresh adapters (or full weights) on the base, then the previous phase's weights if any."""
    start_dir = plan.init_weights if plan.method == "full" and plan.init_weights else plan.base_dir
    model = load_for_training(start_dir, plan.model, plan.method, device, plan.seed)
    if plan.init_weights is not None and plan.method != "full":
        load_weights_into(model, plan.init_weights)
    model.train()
    return model
