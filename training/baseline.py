"""A bare PyTorch training loop (no hooks, events, checks or checkpoints): the throughput baseline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from training.data import EncodedExample, collate, epoch_order, response_loss_sum, split_micro_batches
from training.schedule import LRSchedule


@dataclass(frozen=True)
class BareRun:
    tokens: int
    seconds: float
    losses: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def bare_training_run(
    model: PreTrainedModel,
    data: Sequence[EncodedExample],
    epochs: int,
    micro_batch: int,
    grad_accum: int,
    schedule: LRSchedule,
    max_grad_norm: float,
    seed: int,
    bucket_size: int,
    pad_id: int,
    weight_decay: float = 0.0,
) -> BareRun:
    """The same batches, loss, optimizer, schedule and clipping as the recipe, and nothing else."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=schedule.peak_lr, weight_decay=weight_decay)
    device = next(model.parameters()).device
    lengths = [len(example) for example in data]
    total = epochs * len(data)
    step_size = micro_batch * grad_accum
    seen = tokens = 0
    losses: list[float] = []
    model.train()
    started = time.perf_counter()
    for epoch in range(epochs):
        order = epoch_order(lengths, seed, epoch, bucket_size)
        for start in range(0, len(order), step_size):
            examples = [data[i] for i in order[start : start + step_size]]
            target = max(sum(example.target_tokens for example in examples), 1)
            step_loss = 0.0
            for chunk in split_micro_batches(range(len(examples)), micro_batch):
                batch = {k: v.to(device) for k, v in collate([examples[i] for i in chunk], pad_id).items()}
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = response_loss_sum(logits, batch["labels"]) / target
                loss.backward()
                step_loss += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
            seen += len(examples)
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(seen / total)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += sum(len(example) for example in examples)
            losses.append(step_loss)
    return BareRun(tokens, time.perf_counter() - started, losses)
