"""The router's hook into grammar-constrained decoding: generate() arguments that decode each row's answer
under its format's grammar (training.constrained); rows whose format has none are generated freely."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from transformers import LogitsProcessorList, PreTrainedTokenizerBase

from hlx.grammar import GRAMMAR_FORMATS, has_grammar
from serving.routing import RouterError
from training.constrained import GrammarLogitsProcessor, grammar_book

# The extra generate() arguments for the rows at these positions of a call (one generate call may serve
# only some of its rows: strategy `group` runs one per adapter).
CallKwargs = Callable[[Sequence[int]], dict[str, Any]]


def grammar_generate_kwargs(
    model: Any, tokenizer: PreTrainedTokenizerBase, formats: Sequence[str | None], budgets: Sequence[int]
) -> dict[str, Any]:
    """`logits_processor` for one generate call over these rows (format and token budget per row, in the
    call's row order), or nothing when no row has a grammar. The processor is stateful: one per call."""
    if not any(has_grammar(fmt) for fmt in formats):
        return {}
    book = grammar_book(tokenizer, model.config.vocab_size)
    return {"logits_processor": LogitsProcessorList([GrammarLogitsProcessor(book, formats, budgets)])}


def grammar_call_kwargs(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    formats: Sequence[str | None],
    budgets: Sequence[int],
    enabled: bool,
) -> CallKwargs:
    """Per generate call over a subset of a batch's rows (their positions in `formats`), the arguments that
    decode those rows under their grammars; with `enabled` False, none (every row decodes freely)."""

    def for_rows(positions: Sequence[int]) -> dict[str, Any]:
        if not enabled:
            return {}
        chosen = [formats[i] for i in positions]
        return grammar_generate_kwargs(model, tokenizer, chosen, [budgets[i] for i in positions])

    return for_rows


def compile_grammars(model: Any, tokenizer: PreTrainedTokenizerBase) -> None:
    """Compile every value format's grammar for this tokenizer now (the router's start), so no request waits
    for a compile; RouterError when the tokenizer cannot decode under a grammar."""
    try:
        book = grammar_book(tokenizer, model.config.vocab_size)
        for fmt in GRAMMAR_FORMATS:
            book.matcher(fmt)
    except (ValueError, RuntimeError) as err:
        raise RouterError(
            f"grammar-constrained decoding cannot start: {err}; set router.constrained_decoding: false "
            "to serve every answer unconstrained"
        ) from err
