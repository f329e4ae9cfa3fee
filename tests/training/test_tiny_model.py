"""builtin:tiny: lossless byte-level BPE over every HLX glyph, deterministic build, HF format, cache."""

from __future__ import annotations

from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM, AutoTokenizer

from hlx.corpus_io import read_corpus
from settings.recipe import TinyModelSection
from training.tiny_model import build_tokenizer, corpus_texts, ensure_tiny_base

from .conftest import FIXTURE_CORPUS, TINY_MODEL

# Every glyph the HLX spec uses (LC-R and the runic program track), plus text the tokenizer never saw.
GLYPHS = "🐊🐁🐂🐃🐄◇◆⟁∅⊤⊥⟠⊢↩⌿⟳❓❗⚳⚯⚶⚿▷"
SAMPLES = [
    GLYPHS,
    "🐊14🐁0 123🐂",
    '◇name: "A", n: 1◆',
    "⟠ main { ◇ f(x) { ⊢ y = x ▷ (v) { ↩ v; }; ↩ y; } }",
    "  leading and trailing spaces  \n\t\r\n",
    "E_LC_PARSE (1100) at 3: unexpected 🐄",
    "日本語 ünïcödé \u00a0 zero\u200bwidth",
    "",
]
TINY = TinyModelSection(**TINY_MODEL)
TRAIN_FILES = [FIXTURE_CORPUS / "train.jsonl"]


def test_tokenizer_round_trips_glyphs_and_every_corpus_string(tmp_path: Path) -> None:
    base = ensure_tiny_base(TINY, TRAIN_FILES, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    corpus_strings = [
        text
        for split in ("train", "val")
        for example in read_corpus(FIXTURE_CORPUS / f"{split}.jsonl")
        for text in (example.instruction, example.response)
    ]
    for text in SAMPLES + corpus_strings:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_tokenizer_is_lossless_on_arbitrary_text(text: str) -> None:
    tokenizer = _TOKENIZER
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


_TOKENIZER = build_tokenizer(corpus_texts(TRAIN_FILES), TINY.vocab_size)


def test_tokenizer_build_is_deterministic() -> None:
    again = build_tokenizer(corpus_texts(TRAIN_FILES), TINY.vocab_size)
    assert again.get_vocab() == _TOKENIZER.get_vocab()
    assert again.backend_tokenizer.to_str() == _TOKENIZER.backend_tokenizer.to_str()


def test_base_is_a_hugging_face_directory_built_once(tmp_path: Path) -> None:
    first = ensure_tiny_base(TINY, TRAIN_FILES, tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    second = ensure_tiny_base(TINY, TRAIN_FILES, tmp_path)
    assert second == first
    assert (second / "model.safetensors").stat().st_mtime_ns == stamp
    model = AutoModelForCausalLM.from_pretrained(str(first))
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert 10_000 < sum(p.numel() for p in model.parameters()) < 100_000
    other = ensure_tiny_base(TINY.model_copy(update={"init_seed": 1}), TRAIN_FILES, tmp_path / "other")
    rebuilt = ensure_tiny_base(TINY, TRAIN_FILES, tmp_path / "again")
    first_weights = AutoModelForCausalLM.from_pretrained(str(first)).state_dict()
    assert all(
        torch.equal(first_weights[k], v)
        for k, v in AutoModelForCausalLM.from_pretrained(str(rebuilt)).state_dict().items()
    )
    assert other.name != first.name


def test_cache_key_changes_with_the_corpus(tmp_path: Path) -> None:
    changed = tmp_path / "train.jsonl"
    changed.write_text((FIXTURE_CORPUS / "train.jsonl").read_text(encoding="utf-8").replace("HLXL", "hlxl"))
    assert (
        ensure_tiny_base(TINY, [changed], tmp_path).name != ensure_tiny_base(TINY, TRAIN_FILES, tmp_path).name
    )


def test_building_the_base_leaves_the_callers_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ensure_tiny_base(TINY.model_copy(update={"init_seed": 7}), TRAIN_FILES, tmp_path)
    assert torch.equal(torch.rand(3), expected)
