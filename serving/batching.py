"""Batched generation with per-row limits: each row's budget, which rows share a call, where answers end."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch

from serving.streaming import BatchStreamer


def row_budget(max_new_tokens: int, prompt_tokens: int, context_tokens: int) -> int:
    """The tokens one row may generate: its own max_new_tokens, cut only by its own prompt's room in the
    model's context (never by the other rows of its batch)."""
    return max(0, min(max_new_tokens, context_tokens - prompt_tokens))


def plan_calls(prompt_tokens: list[int], budgets: list[int], context_tokens: int) -> list[list[int]]:
    """Row indices grouped into generate calls, shortest prompts first.

    A call pads every row to its longest prompt and runs as many steps as its largest budget, so rows share
    a call only while that width plus those steps fit the context. A long prompt therefore gets a call of
    its own instead of shrinking the budget of the short rows batched with it."""
    order = sorted(range(len(prompt_tokens)), key=lambda index: (prompt_tokens[index], index))
    calls: list[list[int]] = []
    current: list[int] = []
    width = steps = 0
    for index in order:
        wider, longer = max(width, prompt_tokens[index]), max(steps, budgets[index])
        if current and wider + longer > context_tokens:
            calls.append(current)
            current, wider, longer = [], prompt_tokens[index], budgets[index]
        current.append(index)
        width, steps = wider, longer
    if current:
        calls.append(current)
    return calls


def cut_answer(new_ids: list[int], eos_id: int | None, budget: int) -> tuple[list[int], str]:
    """(answer ids, finish_reason) of one row: `stop` when it emitted EOS within its own budget, `length`
    when its own budget ran out first (steps run for other rows of the call are dropped)."""
    ids = new_ids[:budget]
    if eos_id is not None and eos_id in ids:
        return ids[: ids.index(eos_id)], "stop"
    return ids, "length"


def left_pad(rows: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask of already tokenized rows, padded on the left so that every row's
    answer starts at the same column."""
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, ids in enumerate(rows):
        if ids:
            input_ids[index, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[index, width - len(ids) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def generate_per_adapter(
    model: Any,
    batch: dict[str, torch.Tensor],
    adapters: list[str | None],
    kwargs: dict[str, Any],
    pad_id: int,
    streamer: BatchStreamer | None = None,
    call_kwargs: Callable[[Sequence[int]], dict[str, Any]] | None = None,
) -> torch.Tensor:
    """One generate call per adapter (None: the base with adapters off); rows come back in their order,
    right-padded to the longest output. `streamer` (rows in batch order) gets each call's rows, and
    `call_kwargs(indices)` the extra arguments of the call over those rows (e.g. their grammar processor,
    which holds per-row state and so must be built for the call's own rows)."""
    by_adapter: dict[str | None, list[int]] = {}
    for index, adapter in enumerate(adapters):
        by_adapter.setdefault(adapter, []).append(index)
    pieces: dict[int, torch.Tensor] = {}
    for adapter, indices in by_adapter.items():
        sub = {key: value[indices] for key, value in batch.items()}
        sub_streamer = streamer.subset(indices) if streamer is not None else None
        extra = {**kwargs, **(call_kwargs(indices) if call_kwargs is not None else {})}
        if adapter is None:
            with model.disable_adapter():
                out = model.generate(**sub, **extra, streamer=sub_streamer)
        else:
            model.set_adapter(adapter)
            out = model.generate(**sub, **extra, streamer=sub_streamer)
        pieces.update(zip(indices, out, strict=True))
    longest = max(piece.shape[0] for piece in pieces.values())
    return torch.stack(
        [
            torch.nn.functional.pad(pieces[i], (0, longest - pieces[i].shape[0]), value=pad_id)
            for i in range(len(adapters))
        ]
    )


class BatchStats:
    """How full the router's batches really are: the size of every batch the worker collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sizes: Counter[int] = Counter()

    def record(self, size: int) -> None:
        with self._lock:
            self._sizes[size] += 1

    def snapshot(self) -> dict[str, Any]:
        """batches, requests, mean_batch_size, max_batch_size and sizes (batch size -> how many batches)."""
        with self._lock:
            sizes = dict(self._sizes)
        batches = sum(sizes.values())
        requests = sum(size * count for size, count in sizes.items())
        return {
            "batches": batches,
            "requests": requests,
            "mean_batch_size": round(requests / batches, 3) if batches else 0.0,
            "max_batch_size": max(sizes, default=0),
            "sizes": {str(size): sizes[size] for size in sorted(sizes)},
        }
