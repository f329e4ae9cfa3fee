"""Tests for the router's grammar hook: generate() arguments per batch of rows."""

from __future__ import annotations

from transformers import LogitsProcessorList

from hlx.checker import check
from hlx.corpus_io import prompt_text
from serving.grammar_hook import grammar_generate_kwargs
from settings.recipe import TinyModelSection
from tests.training.conftest import FIXTURE_CORPUS, TINY_MODEL
from training.constrained import GrammarLogitsProcessor
from training.tiny_model import build_model, build_tokenizer, corpus_texts


def test_rows_with_a_grammar_get_a_processor_and_their_answers_parse() -> None:
    tokenizer = build_tokenizer(corpus_texts([FIXTURE_CORPUS / "train.jsonl"]), TINY_MODEL["vocab_size"])
    model = build_model(TinyModelSection(**TINY_MODEL), tokenizer).eval()
    formats: list[str | None] = ["lc-r", "text"]
    kwargs = grammar_generate_kwargs(model, tokenizer, formats, [12, 12], "mixed")
    [processor] = kwargs["logits_processor"]
    assert isinstance(kwargs["logits_processor"], LogitsProcessorList)
    assert isinstance(processor, GrammarLogitsProcessor)
    assert [row is not None for row in processor.rows] == [True, False]
    tokenizer.padding_side = "left"
    batch = tokenizer([prompt_text("Convert to LC-R: 1")] * 2, return_tensors="pt", padding=True,
                      add_special_tokens=False)
    output = model.generate(**batch, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=tokenizer.eos_token_id, **kwargs)
    answer = tokenizer.decode(output[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    assert check(answer, answer, "lc-r").valid, answer
    assert grammar_generate_kwargs(model, tokenizer, ["text", "diagnostic", None], [4, 4, 4], "mixed") == {}
    assert grammar_generate_kwargs(model, tokenizer, formats, [12, 12], "group") == {}
