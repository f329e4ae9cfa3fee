"""The router's hook into grammar-constrained decoding: generate() arguments that decode each row's answer
under its format's grammar (training.constrained); rows whose format has none are generated freely."""

from __future__ import annotations

from typing import Any

from transformers import LogitsProcessorList, PreTrainedTokenizerBase

from hlx.grammar import has_grammar
from training.constrained import GrammarLogitsProcessor, grammar_book


def grammar_generate_kwargs(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    formats: list[str | None],
    budgets: list[int],
    strategy: str,
) -> dict[str, Any]:
    """`logits_processor` for one generate call over these rows (format and token budget per row), or
    nothing when no row has a grammar. Strategy `group` splits the batch into one generate call per adapter,
    which a per-row processor cannot follow, so it decodes unconstrained (the `valid` flag still checks)."""
    if strategy == "group" or not any(has_grammar(fmt) for fmt in formats):
        return {}
    book = grammar_book(tokenizer, model.config.vocab_size)
    return {"logits_processor": LogitsProcessorList([GrammarLogitsProcessor(book, formats, budgets)])}
