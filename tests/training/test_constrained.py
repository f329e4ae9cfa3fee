"""Tests for grammar-constrained decoding: every answer parses, even from random weights and tight budgets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerFast, Qwen3ForCausalLM

from hlx.checker import check
from hlx.corpus_io import Example, prompt_text, read_corpus
from hlx.grammar import has_grammar
from settings.recipe import TinyModelSection
from tests.training.conftest import FIXTURE_CORPUS, TINY_MODEL
from training.constrained import (
    GrammarBook,
    GrammarLogitsProcessor,
    GrammarViolation,
    beyond_repair,
    grammar_book,
)
from training.evaluate import generate_answers
from training.tiny_model import build_model, build_tokenizer, corpus_texts

REPO = Path(__file__).resolve().parents[2]
VALUE_FORMATS = ("hlxl", "lc-t", "lc-r", "lc-b")
# Pieces that open a container, a string or a long LC-B payload: a model that always prefers them would
# never finish an answer on its own.
OPENERS = ("[", "{", '"', "\\", "🐃", "◇", "🐊", "05", "07", "0C", "7F")


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer(corpus_texts([FIXTURE_CORPUS / "train.jsonl"]), TINY_MODEL["vocab_size"])


@pytest.fixture(scope="module")
def untrained(tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    return build_model(TinyModelSection(**TINY_MODEL, init_seed=1), tokenizer).eval()


@pytest.fixture(scope="module")
def book(tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM) -> GrammarBook:
    return grammar_book(tokenizer, untrained.config.vocab_size)


def _value_examples() -> list[Example]:
    """Val examples in every value format: the fixture corpus and the shipped general corpus (LC-B too)."""
    general = read_corpus(REPO / "corpora" / "phase1_general" / "val.jsonl")
    shipped = [ex for ex in general if has_grammar(ex.format)]
    by_format = {fmt: [ex for ex in shipped if ex.format == fmt][:6] for fmt in VALUE_FORMATS}
    fixture = [ex for ex in read_corpus(FIXTURE_CORPUS / "val.jsonl") if has_grammar(ex.format)]
    return fixture + [ex for examples in by_format.values() for ex in examples]


def _validity(examples: list[Example], answers: list[str]) -> float:
    verdicts = [check(answer, ex.response, ex.format) for ex, answer in zip(examples, answers, strict=True)]
    return sum(verdict.valid for verdict in verdicts) / len(verdicts)


def test_an_untrained_model_answers_in_its_format_under_the_grammar(
    tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM
) -> None:
    examples = _value_examples()
    assert {ex.format for ex in examples} == set(VALUE_FORMATS)
    free = generate_answers(untrained, tokenizer, examples, 8, 24, torch.device("cpu"), lambda: None)
    constrained = generate_answers(untrained, tokenizer, examples, 8, 24, torch.device("cpu"), lambda: None,
                                   constrained=True)
    assert _validity(examples, constrained) == 1.0, [
        (ex.format, answer) for ex, answer in zip(examples, constrained, strict=True)
        if not check(answer, ex.response, ex.format).valid
    ]
    assert _validity(examples, free) < 0.5


class _PreferOpeners(LogitsProcessor):
    """A stand-in for a model that always wants to open something more."""

    def __init__(self, book: GrammarBook) -> None:
        self.favoured = torch.tensor([
            any(opener.encode() in piece for opener in OPENERS) for piece in book.token_bytes
        ] + [False] * (book.vocab_size - len(book.token_bytes)))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return scores + 50.0 * self.favoured.to(scores.dtype)


def _generate(model: Qwen3ForCausalLM, tokenizer: PreTrainedTokenizerFast, processors: list[LogitsProcessor],
              rows: int, budget: int) -> list[str]:
    tokenizer.padding_side = "left"
    prompts = [prompt_text(f"Convert: {index}") for index in range(rows)]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    output = model.generate(
        **batch, max_new_tokens=budget, do_sample=False, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, logits_processor=LogitsProcessorList(processors),
    )
    return tokenizer.batch_decode(output[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("budget", [2, 3, 9, 40, 160])
def test_an_answer_that_keeps_opening_is_closed_within_its_budget(
    tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM, book: GrammarBook, budget: int
) -> None:
    # 2 tokens is the smallest budget with a guarantee: the shortest answer from nothing is `""` or `00`.
    formats = list(VALUE_FORMATS)
    grammar = GrammarLogitsProcessor(book, formats, [budget] * len(formats))
    answers = _generate(untrained, tokenizer, [_PreferOpeners(book), grammar], len(formats), budget)
    for fmt, answer in zip(formats, answers, strict=True):
        assert check(answer, answer, fmt).valid, (fmt, budget, answer)
    if budget == 40:  # room to open: the bias shows, and the answers are still whole
        assert answers[0].count("[") >= 5 and answers[1].count("[") >= 5, answers
    if budget == 160:  # room to nest past 64 levels (E_DEPTH_EXCEEDED): it stops at the limit
        assert answers[0].count("[") == answers[1].count("[") == 64, answers


@pytest.mark.parametrize(
    ("prefix", "fmt", "beyond"),
    [
        ("[" * 64, "hlxl", False),
        ("[" * 65, "hlxl", True),
        ("{C:1,0=" * 65, "lc-t", True),
        ("🐃" * 64 + "🐄" + "🐃", "lc-r", False),  # 65 openers, but never deeper than 64
        ("🐃" * 65, "lc-r", True),
        (" ".join(["05"] * 64), "lc-b", False),
        (" ".join(["05"] * 65), "lc-b", True),
        ('["' + "[" * 70, "hlxl", False),  # inside a string
    ],
)
def test_a_prefix_nested_deeper_than_64_is_beyond_repair(prefix: str, fmt: str, beyond: bool) -> None:
    assert beyond_repair(prefix, fmt) is beyond


class _PreferText(LogitsProcessor):
    """A stand-in for a model set on writing `target`: tokens that continue it get a large bonus."""

    def __init__(self, book: GrammarBook, target: str) -> None:
        self.book = book
        self.target = target.encode()
        self.prompt_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.prompt_length = self.prompt_length or input_ids.shape[1]
        written = b"".join(self.book.token_bytes[int(t)] for t in input_ids[0, self.prompt_length:])
        rest = self.target[len(written):] if self.target.startswith(written) else b""
        for token, piece in enumerate(self.book.token_bytes):
            if piece and rest.startswith(piece):
                scores[0, token] += 50.0
        return scores


@pytest.mark.parametrize(("budget", "follows"), [(10, False), (120, True)])
def test_an_lcb_length_that_cannot_fit_the_budget_is_not_written(
    tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM, book: GrammarBook, budget: int,
    follows: bool,
) -> None:
    # `03 1F` promises 31 text bytes (31 more hex pairs): too many for 10 tokens, room enough in 120.
    grammar = GrammarLogitsProcessor(book, ["lc-b"], [budget])
    [answer] = _generate(untrained, tokenizer, [_PreferText(book, "03 1F"), grammar], 1, budget)
    assert check(answer, answer, "lc-b").valid, answer
    assert answer.startswith("03 1F") is follows, answer


def test_each_row_keeps_its_own_budget_and_unconstrained_rows_are_untouched(
    tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM, book: GrammarBook
) -> None:
    bias = _PreferOpeners(book)
    free = _generate(untrained, tokenizer, [bias], 3, 30)
    grammar = GrammarLogitsProcessor(book, [None, "hlxl", "lc-r"], [30, 30, 5])
    mixed = _generate(untrained, tokenizer, [bias, grammar], 3, 30)
    assert mixed[0] == free[0]
    assert check(mixed[1], mixed[1], "hlxl").valid and check(mixed[2], mixed[2], "lc-r").valid
    assert len(tokenizer(mixed[2], add_special_tokens=False)["input_ids"]) <= 5 < len(
        tokenizer(mixed[1], add_special_tokens=False)["input_ids"]
    )


def test_a_token_outside_the_grammar_is_refused(
    book: GrammarBook, tokenizer: PreTrainedTokenizerFast
) -> None:
    processor = GrammarLogitsProcessor(book, ["lc-t"], [10])
    scores = torch.zeros(1, book.vocab_size)
    processor(torch.tensor([[tokenizer.eos_token_id]]), scores.clone())
    null = tokenizer("null", add_special_tokens=False)["input_ids"][0]
    with pytest.raises(GrammarViolation, match=r"breaks the lc-t grammar after b''"):
        processor(torch.tensor([[tokenizer.eos_token_id, null]]), scores.clone())


def test_rows_and_budgets_must_match(book: GrammarBook) -> None:
    with pytest.raises(ValueError, match="2 formats but 1 budgets; give one of each per row"):
        GrammarLogitsProcessor(book, ["hlxl", None], [4])


@pytest.mark.parametrize(
    ("fmt", "target"),
    [("lc-t", "{C:1,0=1,0=1,0=1}"), ("hlxl", "{a: 1, a: 2, a: 3}"), ("lc-r", "🐊1🐁0 1🐁0 1🐂")],
)
def test_a_model_set_on_repeating_a_field_index_or_key_still_answers_validly(
    tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM, book: GrammarBook, fmt: str, target: str
) -> None:
    # The grammar alone allows `0=1,0=1` (E_FIELD_ORDER) and repeated keys: context-free, it cannot see them.
    grammar = GrammarLogitsProcessor(book, [fmt], [24])
    [answer] = _generate(untrained, tokenizer, [_PreferText(book, target), grammar], 1, 24)
    assert check(answer, answer, fmt).valid, answer
    assert answer.startswith(target[:5]), answer  # it did follow the model as far as it could


@pytest.mark.parametrize(
    ("fmt", "target"), [("lc-t", "[9e9999,1]"), ("hlxl", "[1, 9e+9999]"), ("lc-r", "🐃9.5e9999🐄")]
)
def test_a_model_set_on_an_infinite_float_still_answers_validly(
    tokenizer: PreTrainedTokenizerFast, untrained: Qwen3ForCausalLM, book: GrammarBook, fmt: str, target: str
) -> None:
    # The grammar alone allows `9e9999` (E_FLOAT_SPECIAL: it overflows to infinity); a briefly trained model
    # wrote `44445E144555` in LC-T.
    assert not check(target, target, fmt).valid
    grammar = GrammarLogitsProcessor(book, [fmt], [24])
    [answer] = _generate(untrained, tokenizer, [_PreferText(book, target), grammar], 1, 24)
    assert check(answer, answer, fmt).valid, answer
    assert answer.startswith(target[: target.index("e") + 3]), answer  # followed the model up to `e99`


@pytest.mark.parametrize(
    ("prefix", "fmt", "dead"),
    [
        ("[1e308", "lc-t", False),  # the largest exponent that can still be finite
        ("[1e309", "lc-t", True),
        ("[1.7e308", "hlxl", False),
        ("[1.8e308", "hlxl", True),
        ("1e-999", "lc-r", False),  # underflows to 0.0: finite
        ('"1e999', "hlxl", False),  # inside a string
        ("1" * 400, "lc-t", False),  # an int, not a float
        ("1" * 309 + ".5", "lc-t", False),  # 1.1e308: finite
        ("2" * 309 + ".5", "lc-t", True),  # 2.2e308: infinite, without an exponent
    ],
)
def test_a_prefix_is_beyond_repair_once_its_float_is_infinite(prefix: str, fmt: str, dead: bool) -> None:
    assert beyond_repair(prefix, fmt) is dead
