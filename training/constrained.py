"""Decode answers under their format's grammar: a logits processor with one xgrammar matcher per batch row.

Rows whose format has a grammar (hlx.grammar) may only emit tokens the grammar allows, and end-of-text only
where the answer is complete. Each row also has a token budget. Decoding is greedy, so the processor can see
the token a row is about to pick: when taking it would leave too few tokens to finish the answer, the row is
steered onto the shortest known completion (training.grammar_close) instead, so a budget never cuts an
answer off. What a context-free grammar cannot see, a repeated field index or record key
(hlx.grammar.dead_end), a float literal that overflows to infinity or nesting deeper than 64 levels
(`beyond_repair`), is checked with the toolkit on the prefix and masked too. Rows without a grammar
(diagnostics, free text) are left alone.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence

import torch
import xgrammar as xgr
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from hlx.errors import E_DEPTH_EXCEEDED, E_FLOAT_SPECIAL, HLXError
from hlx.formats import parse
from hlx.grammar import TEXT_FORMATS, dead_end, grammar_text, has_grammar
from hlx.values import MAX_DEPTH
from training.grammar_close import lcb_closing, text_closing

_BOOKS: weakref.WeakKeyDictionary[PreTrainedTokenizerBase, dict[int, GrammarBook]] = (
    weakref.WeakKeyDictionary()
)


# Tokens tried per step before giving up on avoiding a prefix the toolkit refuses (a repeated field index).
MAX_DEAD_ENDS = 64


# A float literal ending the prefix that may already be infinite (a finite double is below 1.8e308): an
# exponent of 3 digits or more, or a mantissa of 300 digits or more.
_HUGE_FLOAT_TAIL = re.compile(r"(?:[eE]\+?[0-9]{3,}|[0-9]{300,}(?:\.[0-9]*)?(?:[eE]\+?[0-9]*)?)$")
# What opens a container in each format: a prefix with at most MAX_DEPTH of them cannot nest too deep.
_OPENERS: dict[str, tuple[str, ...]] = {
    "hlxl": ("[", "{"), "lc-t": ("[", "{"), "lc-r": ("🐃", "◇", "🐊"), "lc-b": ("05", "07", "0C"),
}
# Refusals the grammar cannot see and no continuation can undo.
_BEYOND_REPAIR = frozenset({E_FLOAT_SPECIAL, E_DEPTH_EXCEEDED})


def beyond_repair(prefix: str, fmt: str) -> bool:
    """True when the toolkit already refuses `prefix` (which the grammar accepts) for good: a float literal
    that is infinite (E_FLOAT_SPECIAL, e.g. `1e999`: more digits only make it larger) or nesting deeper than
    MAX_DEPTH (E_DEPTH_EXCEEDED). The prefix is parsed only when a quick look says it may be so."""
    huge_float = fmt in TEXT_FORMATS and _HUGE_FLOAT_TAIL.search(prefix) is not None
    if not huge_float and sum(prefix.count(opener) for opener in _OPENERS[fmt]) <= MAX_DEPTH:
        return False
    try:
        parse(prefix, fmt)
    except HLXError as err:
        return err.code in _BEYOND_REPAIR
    return False


class GrammarViolation(RuntimeError):
    """A row emitted a token its grammar does not allow (another processor or sampling overrode the mask)."""


class GrammarBook:
    """The grammars compiled for one tokenizer and logits width, each compiled on first use."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("grammar-constrained decoding needs a tokenizer with an eos_token_id")
        self.tokenizer = tokenizer
        self.eos_id: int = eos
        self.vocab_size = vocab_size
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=[eos])
        self.compiler = xgr.GrammarCompiler(self.info)
        self._compiled: dict[str, xgr.CompiledGrammar] = {}
        self.token_bytes: list[bytes] = list(self.info.decoded_vocab)
        # Every byte as one token, for completions that end a multi-byte character (byte-level vocabularies).
        self.byte_token: dict[int, int] = {
            piece[0]: token for token, piece in enumerate(self.token_bytes)
            if len(piece) == 1 and token not in self.info.special_token_ids
        }

    def matcher(self, fmt: str) -> xgr.GrammarMatcher:
        normal = fmt.strip().lower()
        if normal not in self._compiled:
            self._compiled[normal] = self.compiler.compile_grammar(grammar_text(normal))
        return xgr.GrammarMatcher(self._compiled[normal])

    def tokens_of(self, data: bytes) -> list[int] | None:
        """Token ids that spell `data` exactly, or None when the vocabulary cannot."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if b"".join(self.token_bytes[token] for token in ids) == data:
                return ids
        if all(byte in self.byte_token for byte in data):
            return [self.byte_token[byte] for byte in data]
        return None


def grammar_book(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> GrammarBook:
    """The tokenizer's GrammarBook for this logits width, built once and reused while the tokenizer lives."""
    books = _BOOKS.setdefault(tokenizer, {})
    if vocab_size not in books:
        books[vocab_size] = GrammarBook(tokenizer, vocab_size)
    return books[vocab_size]


class _Row:
    """One constrained row: its matcher, the bytes written so far and a forced completion, if any."""

    def __init__(self, book: GrammarBook, fmt: str, budget: int) -> None:
        self.book = book
        self.fmt = fmt.strip().lower()
        self.budget = budget
        self.matcher = book.matcher(self.fmt)
        self.written = bytearray()
        self.plan: list[int] = []

    def accept(self, token: int) -> None:
        if self.matcher.is_terminated():
            return  # generate pads a finished row
        if self.plan:
            # Greedy decoding takes the forced token; anything else voids the plan (recomputed if needed).
            self.plan = self.plan[1:] if token == self.plan[0] else []
        if not self.matcher.accept_token(token):
            shown = self.book.token_bytes[token] if token < len(self.book.token_bytes) else token
            raise GrammarViolation(
                f"token {token} ({shown!r}) breaks the {self.fmt} grammar after {bytes(self.written)!r}; "
                "grammar-constrained decoding needs greedy decoding with no processor after it"
            )
        self.written += self.book.token_bytes[token]

    def closing_tokens(self, matcher: xgr.GrammarMatcher, written: bytes) -> list[int] | None:
        """Tokens that finish the answer from `matcher`'s state (end-of-text not included: an answer cut
        by its budget right after them is complete)."""
        if self.fmt == "lc-b":
            closing = lcb_closing(matcher, written.decode("ascii"))
        else:
            closing = text_closing(matcher, written, self.fmt)
        return None if closing is None else self.book.tokens_of(closing)

    def steer(self, scores: torch.Tensor, bitmask: torch.Tensor, index: int, remaining: int) -> None:
        """Mask `scores` (this row's logits) to the grammar, or to the next token of the completion."""
        if self.plan:
            _force(scores, self.plan[0])
            return
        self.matcher.fill_next_token_bitmask(bitmask, index)
        xgr.apply_token_bitmask_inplace(scores.unsqueeze(0), bitmask[index : index + 1].to(scores.device))
        choice = self._first_live_choice(scores)
        if choice == self.book.eos_id or self._fits_after(choice, remaining - 1):
            return
        closing = self.closing_tokens(self.matcher, bytes(self.written))
        if closing is not None:
            self.plan = [*closing, self.book.eos_id]
            _force(scores, self.plan[0])

    def _first_live_choice(self, scores: torch.Tensor) -> int:
        """The best token left once those that would repeat a field index or record key, make a float
        infinite or nest too deep are masked too (what the grammar cannot see; a key or index still being
        written may grow out of it)."""
        for _ in range(MAX_DEAD_ENDS):
            choice = int(scores.argmax())
            prefix = (bytes(self.written) + self.book.token_bytes[choice]).decode("utf-8", errors="ignore")
            if choice == self.book.eos_id:
                return choice
            if not (dead_end(prefix, self.fmt) or beyond_repair(prefix, self.fmt)):
                return choice
            scores[choice] = float("-inf")
        return int(scores.argmax())

    def _fits_after(self, token: int, remaining: int) -> bool:
        probe = self.matcher.fork()
        if not probe.accept_token(token):
            return False
        closing = self.closing_tokens(probe, bytes(self.written) + self.book.token_bytes[token])
        return closing is not None and len(closing) <= remaining


def _force(scores: torch.Tensor, token: int) -> None:
    kept = scores[token].clone()
    scores.fill_(float("-inf"))
    scores[token] = kept if torch.isfinite(kept) else 0.0


class GrammarLogitsProcessor(LogitsProcessor):
    """Per row of a generate batch: the answer format (None: unconstrained) and the row's token budget."""

    def __init__(self, book: GrammarBook, formats: Sequence[str | None], budgets: Sequence[int]) -> None:
        if len(formats) != len(budgets):
            raise ValueError(f"{len(formats)} formats but {len(budgets)} budgets; give one of each per row")
        self.book = book
        self.rows = [
            _Row(book, fmt, budget) if has_grammar(fmt) else None
            for fmt, budget in zip(formats, budgets, strict=True)
        ]
        self.bitmask = xgr.allocate_token_bitmask(len(self.rows), book.vocab_size)
        self.prompt_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != len(self.rows):
            raise ValueError(
                f"batch of {input_ids.shape[0]} rows, but formats were given for {len(self.rows)}"
            )
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        generated = input_ids.shape[1] - self.prompt_length
        for index, row in enumerate(self.rows):
            if row is None:
                continue
            if generated:
                row.accept(int(input_ids[index, -1]))
            if not row.matcher.is_terminated():
                row.steer(scores[index], self.bitmask, index, row.budget - generated)
        return scores
