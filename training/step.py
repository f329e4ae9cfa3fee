"""One optimizer step over micro-batches, with the non-finite check placed before the update."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel

from training.data import EncodedExample, collate, response_loss_sum, split_micro_batches
from training.faults import SimulatedOOM


@dataclass(frozen=True)
class StepOutcome:
    """What one step did. applied=False means no update happened: a non-finite loss or gradient norm, or
    (with `veto` set) the veto's answer."""

    loss: float
    grad_norm: float
    applied: bool
    tokens: int
    seconds: float
    veto: Any = None
    """What `veto` answered when it refused the update (None otherwise)."""


@dataclass
class StepContext:
    """The long-lived pieces a step needs."""

    model: PreTrainedModel
    optimizer: torch.optim.Optimizer
    parameters: list[torch.nn.Parameter]
    scaler: torch.amp.GradScaler | None
    device: torch.device
    pad_id: int
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    max_grad_norm: float


def _accumulate_gradients(
    context: StepContext,
    examples: Sequence[EncodedExample],
    micro_batch: int,
    target_tokens: int,
    poison_loss: bool,
    simulated_oom: str | None,
    loss_factor: float,
) -> float:
    """Run forward and backward over the step's micro-batches and return the summed normalised loss. It stops
    at the first non-finite loss; on any exception the gradients are zeroed before it propagates."""
    optimizer, scaler = context.optimizer, context.scaler
    loss_total = 0.0
    try:
        for position, chunk in enumerate(split_micro_batches(range(len(examples)), micro_batch)):
            if simulated_oom is not None and position == 0:
                raise SimulatedOOM(simulated_oom)
            batch = collate([examples[i] for i in chunk], context.pad_id)
            batch = {key: value.to(context.device) for key, value in batch.items()}
            with context.autocast():
                output = context.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            loss = response_loss_sum(output.logits, batch["labels"]) / target_tokens
            if poison_loss and position == 0:
                loss = loss * float("nan")
            if loss_factor != 1.0:
                loss = loss * loss_factor
            value = float(loss.detach())
            loss_total += value
            if not math.isfinite(value):
                break  # the step is lost anyway; the remaining micro-batches would only cost time
            (scaler.scale(loss) if scaler is not None else loss).backward()
            del output, loss, batch
    except BaseException:
        optimizer.zero_grad(set_to_none=True)
        raise
    return loss_total


def optimizer_step(
    context: StepContext,
    examples: Sequence[EncodedExample],
    micro_batch: int,
    learning_rate: float,
    poison_loss: bool = False,
    simulated_oom: str | None = None,
    loss_factor: float = 1.0,
    veto: Callable[[float, float], Any] | None = None,
) -> StepOutcome:
    """Accumulate gradients over micro-batches, clip, and step. The loss is normalised by the response
    tokens of the whole step, so the result does not depend on how the step is split into micro-batches.
    Exceptions (OOM included) propagate with the gradients zeroed and the weights untouched.
    `loss_factor` scales every micro-batch's loss (fault injection: a spike). `veto(loss, grad_norm)` is
    asked before a finite update; a non-None answer drops the update like a non-finite value would."""
    started = time.perf_counter()
    optimizer, scaler = context.optimizer, context.scaler
    target_tokens = max(sum(example.target_tokens for example in examples), 1)
    tokens = sum(len(example) for example in examples)
    optimizer.zero_grad(set_to_none=True)
    loss_total = _accumulate_gradients(
        context, examples, micro_batch, target_tokens, poison_loss, simulated_oom, loss_factor
    )
    grad_norm = math.nan
    if math.isfinite(loss_total):
        if scaler is not None:
            scaler.unscale_(optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(context.parameters, context.max_grad_norm))
    if not (math.isfinite(loss_total) and math.isfinite(grad_norm)):
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and math.isfinite(loss_total):
            scaler.update()  # an fp16 overflow: let the scaler lower its scale as it normally would
        return StepOutcome(loss_total, grad_norm, False, tokens, time.perf_counter() - started)
    refusal = veto(loss_total, grad_norm) if veto is not None else None
    if refusal is not None:
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.update()  # unscale_ ran; update() closes this iteration of the scaler
        return StepOutcome(loss_total, grad_norm, False, tokens, time.perf_counter() - started, refusal)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepOutcome(loss_total, grad_norm, True, tokens, time.perf_counter() - started)
