"""Per-epoch evaluation: val loss, and greedy generation (under the answer format's grammar when asked)
graded by the HLX answer checker."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from hlx.checker import check
from hlx.corpus_io import Example, prompt_text
from training.constrained import GrammarLogitsProcessor, grammar_book
from training.data import EncodedExample, collate, response_loss_sum
from training.events import EpochEval, EvalSample, TaskScore

SAMPLES_KEPT = 6
# Generation stops this many tokens past the longest reference of the batch: an answer that long is
# wrong anyway, and tiny models that never emit EOS would otherwise run to max_new_tokens.
REFERENCE_SLACK_TOKENS = 16


@dataclass(frozen=True)
class EvalResult:
    val_loss: float
    exact_match: float | None
    format_validity: float | None
    n_graded: int
    per_task: dict[str, TaskScore]
    samples: list[EvalSample]
    seconds: float

    def to_event(self, where: dict[str, Any], train_loss: float | None) -> EpochEval:
        """The EpochEval event for this result; `where` names specialist, phase, epoch and step."""
        return EpochEval(
            **where,
            train_loss=train_loss,
            val_loss=self.val_loss,
            exact_match=self.exact_match,
            format_validity=self.format_validity,
            n_graded=self.n_graded,
            per_task=self.per_task,
            samples=self.samples,
            eval_time_s=self.seconds,
        )


def graded_subset(examples: Sequence[Example], size: int) -> list[Example]:
    """A deterministic subset balanced across task families: round-robin over families sorted by name,
    each family in id order."""
    by_task: dict[str, list[Example]] = defaultdict(list)
    for example in sorted(examples, key=lambda e: e.id):
        by_task[example.task].append(example)
    queues = [by_task[task] for task in sorted(by_task)]
    chosen: list[Example] = []
    depth = 0
    while len(chosen) < size and any(depth < len(queue) for queue in queues):
        chosen.extend(queue[depth] for queue in queues if depth < len(queue))
        depth += 1
    return chosen[:size]


@torch.no_grad()
def validation_loss(
    model: PreTrainedModel,
    encoded: Sequence[EncodedExample],
    pad_id: int,
    batch_size: int,
    device: torch.device,
    autocast: Callable[[], object],
    beat: Callable[[], None],
) -> float:
    """Mean loss per response token over the whole val split."""
    total_loss = 0.0
    total_tokens = 0
    ordered = sorted(encoded, key=len)
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        batch = {key: value.to(device) for key, value in collate(chunk, pad_id).items()}
        with autocast():  # type: ignore[attr-defined]
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        total_loss += float(response_loss_sum(logits, batch["labels"]))
        total_tokens += sum(example.target_tokens for example in chunk)
        beat()
    return total_loss / max(total_tokens, 1)


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batch_size: int,
    max_new_tokens: int,
    device: torch.device,
    beat: Callable[[], None],
    constrained: bool = False,
) -> list[str]:
    """Greedy, batched, left-padded generation with the KV cache; returns the decoded answers.

    With `constrained`, each answer in a value format is decoded under that format's grammar
    (training.constrained), so it parses whatever the weights; other answers are generated freely."""
    ordered = sorted(range(len(examples)), key=lambda i: len(examples[i].instruction))
    by_index: dict[int, str] = {}
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(ordered), batch_size):
            indices = ordered[start : start + batch_size]
            prompts = [prompt_text(examples[i].instruction) for i in indices]
            references = tokenizer([examples[i].response for i in indices], add_special_tokens=False)[
                "input_ids"
            ]
            budget = min(max_new_tokens, max(len(ids) for ids in references) + REFERENCE_SLACK_TOKENS)
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            processors = LogitsProcessorList()
            if constrained:
                book = grammar_book(tokenizer, model.config.vocab_size)
                formats = [examples[i].format for i in indices]
                processors.append(GrammarLogitsProcessor(book, formats, [budget] * len(indices)))
            output = model.generate(
                **batch,
                max_new_tokens=budget,
                do_sample=False,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                logits_processor=processors,
            )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for index, text in zip(
                indices, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True
            ):
                by_index[index] = text
            beat()
    finally:
        tokenizer.padding_side = previous_side
    answers = [by_index[i] for i in range(len(examples))]
    return answers


def grade(
    examples: Sequence[Example], answers: Sequence[str]
) -> tuple[dict[str, TaskScore], list[EvalSample]]:
    """Checker verdicts per task family, plus a few samples (failures first)."""
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    samples: list[EvalSample] = []
    for example, answer in zip(examples, answers, strict=True):
        verdict = check(answer, example.response, example.format)
        tally = tallies[example.task]
        tally[0] += 1
        tally[1] += int(verdict.correct)
        tally[2] += int(verdict.valid)
        samples.append(
            EvalSample(
                id=example.id,
                task=example.task,
                format=example.format,
                output=answer,
                reference=example.response,
                correct=verdict.correct,
                valid=verdict.valid,
            )
        )
    per_task = {
        task: TaskScore(n=n, exact_match=correct / n, format_validity=valid / n)
        for task, (n, correct, valid) in sorted(tallies.items())
    }
    samples.sort(key=lambda sample: (sample.correct, sample.valid))
    return per_task, samples[:SAMPLES_KEPT]


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    val_examples: Sequence[Example],
    val_encoded: Sequence[EncodedExample],
    subset_size: int,
    batch_size: int,
    max_new_tokens: int,
    device: torch.device,
    autocast: Callable[[], object],
    beat: Callable[[], None],
    constrained: bool = False,
) -> EvalResult:
    """Val loss on the whole val split; exact match and format validity on a balanced subset (answers in a
    value format decoded under its grammar with `constrained`)."""
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        pad_id = tokenizer.pad_token_id
        val_loss = validation_loss(model, val_encoded, pad_id, batch_size, device, autocast, beat)
        subset = graded_subset(val_examples, subset_size)
        if not subset:
            return EvalResult(val_loss, None, None, 0, {}, [], time.perf_counter() - started)
        answers = generate_answers(
            model, tokenizer, subset, batch_size, max_new_tokens, device, beat, constrained
        )
        per_task, samples = grade(subset, answers)
    finally:
        model.train(was_training)
    graded = sum(score.n for score in per_task.values())
    exact = sum(score.exact_match * score.n for score in per_task.values()) / graded
    valid = sum(score.format_validity * score.n for score in per_task.values()) / graded
    return EvalResult(val_loss, exact, valid, graded, per_task, samples, time.perf_counter() - started)
