"""Tests for the router's grammar hook: generate() arguments per call, over all of a batch's rows or some."""

from __future__ import annotations

import copy

import pytest
from transformers import LogitsProcessorList, PreTrainedTokenizerFast, Qwen3ForCausalLM

from hlx.corpus_io import prompt_text
from hlx.formats import parse
from serving.grammar_hook import compile_grammars, grammar_call_kwargs, grammar_generate_kwargs
from serving.routing import RouterError
from settings.recipe import TinyModelSection
from tests.training.conftest import FIXTURE_CORPUS, TINY_MODEL
from training.constrained import GrammarLogitsProcessor
from training.tiny_model import build_model, build_tokenizer, corpus_texts


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer(corpus_texts([FIXTURE_CORPUS / "train.jsonl"]), TINY_MODEL["vocab_size"])


@pytest.fixture(scope="module")
def model(tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    return build_model(TinyModelSection(**TINY_MODEL), tokenizer).eval()


def _processor(kwargs: dict[str, object]) -> GrammarLogitsProcessor:
    processors = kwargs["logits_processor"]
    assert isinstance(processors, LogitsProcessorList)
    [processor] = processors
    assert isinstance(processor, GrammarLogitsProcessor)
    return processor


def test_rows_with_a_grammar_get_a_processor_and_their_answers_parse(
    tokenizer: PreTrainedTokenizerFast, model: Qwen3ForCausalLM
) -> None:
    formats: list[str | None] = ["lc-r", "text"]
    kwargs = grammar_generate_kwargs(model, tokenizer, formats, [12, 12])
    assert [row is not None for row in _processor(kwargs).rows] == [True, False]
    tokenizer.padding_side = "left"
    batch = tokenizer([prompt_text("Convert to LC-R: 1")] * 2, return_tensors="pt", padding=True,
                      add_special_tokens=False)
    output = model.generate(**batch, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=tokenizer.eos_token_id, **kwargs)
    answer = tokenizer.decode(output[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    parse(answer, "lc-r")  # raises when the answer does not parse
    assert grammar_generate_kwargs(model, tokenizer, ["text", "diagnostic", None], [4, 4, 4]) == {}


def test_a_call_over_some_rows_gets_their_formats_and_budgets_only(
    tokenizer: PreTrainedTokenizerFast, model: Qwen3ForCausalLM
) -> None:
    formats = ["text", "lc-r", "hlxl", "lc-b"]
    per_call = grammar_call_kwargs(model, tokenizer, formats, [5, 6, 7, 8], enabled=True)
    rows = _processor(per_call([3, 1])).rows
    assert [(row.fmt, row.budget) for row in rows if row is not None] == [("lc-b", 8), ("lc-r", 6)]
    assert [row is None for row in _processor(per_call([0, 2])).rows] == [True, False]
    assert per_call([0]) == {}  # free text only: no processor at all
    # A fresh processor per call: each holds its rows' decoding state.
    assert _processor(per_call([1])) is not _processor(per_call([1]))


def test_switched_off_no_call_gets_a_processor(
    tokenizer: PreTrainedTokenizerFast, model: Qwen3ForCausalLM
) -> None:
    per_call = grammar_call_kwargs(model, tokenizer, ["lc-r", "hlxl"], [6, 6], enabled=False)
    assert per_call([0, 1]) == {} and per_call([1]) == {}


def test_a_tokenizer_that_cannot_end_an_answer_fails_at_start_with_the_way_out(
    tokenizer: PreTrainedTokenizerFast, model: Qwen3ForCausalLM
) -> None:
    compile_grammars(model, tokenizer)  # every value format compiles for the tiny tokenizer
    endless = copy.deepcopy(tokenizer)
    endless.eos_token = None
    with pytest.raises(
        RouterError,
        match=r"grammar-constrained decoding cannot start: grammar-constrained decoding needs a tokenizer "
        r"with an eos_token_id; set router\.constrained_decoding: false",
    ):
        compile_grammars(model, endless)
