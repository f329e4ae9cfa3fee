"""Prompt/response examples as token ids with response-only labels, overlong reporting, and batching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
import torch
from transformers import PreTrainedTokenizerBase

from hlx.corpus_io import Example, prompt_text, read_corpus

IGNORE_INDEX = -100
REPORTED_IDS = 5
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EncodedExample:
    """One example as the model sees it: prompt + response + EOS, labels only on the response and EOS."""

    id: str
    task: str
    format: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    target_tokens: int
    """Tokens that carry loss (labels after the causal shift that are not IGNORE_INDEX)."""

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class OverlongReport:
    """Examples longer than max_length: how many, what was done, and a few ids to look at."""

    total: int
    overlong: int
    truncated: int
    dropped: int
    action: Literal["truncate", "drop"]
    max_length: int
    longest: int
    example_ids: tuple[str, ...]

    def message(self, source: str) -> str:
        ids = ", ".join(self.example_ids)
        return (
            f"{source}: {self.overlong} of {self.total} examples exceed max_length={self.max_length} "
            f"tokens (longest {self.longest}); truncated {self.truncated}, dropped {self.dropped} "
            f"(e.g. {ids}). Raise max_length or set overlong: drop/truncate to choose."
        )


def encode_examples(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    overlong: Literal["truncate", "drop"],
    source: str = "corpus",
) -> tuple[list[EncodedExample], OverlongReport]:
    """Tokenize prompt and response apart (so generation sees exactly the training prompt) and apply
    the overlong policy. An example whose prompt alone fills max_length is dropped even when truncating,
    because it would carry no loss."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos_token; the recipe needs one to end responses")
    prompts = tokenizer([prompt_text(e.instruction) for e in examples], add_special_tokens=False)["input_ids"]
    responses = tokenizer([e.response for e in examples], add_special_tokens=False)["input_ids"]
    encoded: list[EncodedExample] = []
    overlong_ids: list[str] = []
    truncated = dropped = longest = 0
    for example, prompt_ids, response_ids in zip(examples, prompts, responses, strict=True):
        input_ids = [*prompt_ids, *response_ids, eos]
        labels = [IGNORE_INDEX] * len(prompt_ids) + [*response_ids, eos]
        longest = max(longest, len(input_ids))
        if len(input_ids) > max_length:
            overlong_ids.append(example.id)
            if overlong == "drop" or len(prompt_ids) >= max_length:
                dropped += 1
                continue
            truncated += 1
            input_ids, labels = input_ids[:max_length], labels[:max_length]
        target_tokens = sum(1 for label in labels[1:] if label != IGNORE_INDEX)
        encoded.append(
            EncodedExample(
                example.id, example.task, example.format, tuple(input_ids), tuple(labels), target_tokens
            )
        )
    report = OverlongReport(
        total=len(examples),
        overlong=len(overlong_ids),
        truncated=truncated,
        dropped=dropped,
        action=overlong,
        max_length=max_length,
        longest=longest,
        example_ids=tuple(overlong_ids[:REPORTED_IDS]),
    )
    if report.overlong:
        log.warning("overlong examples", detail=report.message(source))
    if not encoded:
        raise ValueError(f"{source}: no example fits max_length={max_length}; raise max_length")
    return encoded, report


def load_split(
    paths: Path | Sequence[Path],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    overlong: Literal["truncate", "drop"],
) -> tuple[list[Example], list[EncodedExample], OverlongReport]:
    """Read one corpus split (or several, concatenated in order) and encode it; overlong examples are
    reported and handled."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    examples = [example for path in files for example in read_corpus(path)]
    source = " + ".join(str(path) for path in files)
    encoded, report = encode_examples(examples, tokenizer, max_length, overlong, source)
    return examples, encoded, report


def epoch_order(lengths: Sequence[int], seed: int, epoch: int, bucket_size: int) -> list[int]:
    """Example indices for one epoch: a shuffle seeded by (seed, epoch), then sorted by length inside
    each chunk of bucket_size so consecutive batches pad little. The order does not depend on the batch
    size, so a batch-size change mid-epoch keeps the same examples in the same order."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    shuffled = torch.randperm(len(lengths), generator=generator).tolist()
    order: list[int] = []
    for start in range(0, len(shuffled), bucket_size):
        chunk = shuffled[start : start + bucket_size]
        order.extend(sorted(chunk, key=lambda index: lengths[index]))
    return order


def collate(
    examples: Sequence[EncodedExample], pad_id: int, padding_side: Literal["right", "left"] = "right"
) -> dict[str, torch.Tensor]:
    """Pad to the longest example of this batch; padding gets attention 0 and label IGNORE_INDEX."""
    width = max(len(example) for example in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example)
        span = slice(0, size) if padding_side == "right" else slice(width - size, width)
        input_ids[row, span] = torch.tensor(example.input_ids)
        labels[row, span] = torch.tensor(example.labels)
        attention[row, span] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def split_micro_batches(indices: Sequence[int], micro_batch: int) -> list[list[int]]:
    return [list(indices[start : start + micro_batch]) for start in range(0, len(indices), micro_batch)]


def response_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over response tokens only (the caller divides by the step's count)."""
    shifted_logits = logits[:, :-1, :].float()
    shifted_labels = labels[:, 1:]
    return torch.nn.functional.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.size(-1)),
        shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
