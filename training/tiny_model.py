"""builtin:tiny: a small Qwen3 model and a byte-level BPE tokenizer, built deterministically from corpora."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import structlog
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from fileio.digest import file_sha256
from hlx.corpus_io import PROMPT_HEAD, PROMPT_TAIL, read_corpus
from settings.recipe import TinyModelSection
from training.checkpoint import write_dir_atomically
from training.quiet import quiet_transformers

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
# Bump when the way the base is built changes, so stale caches are never reused.
BUILD_VERSION = 1
log = structlog.get_logger(__name__)


def corpus_texts(train_files: list[Path]) -> Iterator[str]:
    """Every string the model will see: the prompt template and each instruction and response."""
    yield PROMPT_HEAD + PROMPT_TAIL
    for path in train_files:
        for example in read_corpus(path):
            yield example.instruction
            yield example.response


def build_tokenizer(texts: Iterator[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE: every UTF-8 string (all HLX glyphs included) round-trips exactly through it."""
    tokenizer = Tokenizer(models.BPE())
    # No normaliser and no prefix space: decode(encode(s)) == s for every string, spaces and glyphs included.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        clean_up_tokenization_spaces=False,
        model_max_length=1_000_000,
    )


def build_model(tiny: TinyModelSection, tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    """A randomly initialised Qwen3 causal LM with the given shape (seeded by tiny.init_seed)."""
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=tiny.hidden_size,
        intermediate_size=tiny.intermediate_size,
        num_hidden_layers=tiny.num_layers,
        num_attention_heads=tiny.num_heads,
        num_key_value_heads=tiny.num_kv_heads,
        head_dim=tiny.head_dim,
        max_position_embeddings=tiny.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(tiny.init_seed)
    try:
        model = Qwen3ForCausalLM(config)
    finally:
        # Building the base must not disturb the caller's RNG stream (exact resume depends on it).
        torch.random.set_rng_state(generator_state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def tiny_cache_key(tiny: TinyModelSection, train_files: list[Path]) -> str:
    """Hash of the architecture, the build version and the content of the tokenizer corpora."""
    payload = {
        "version": BUILD_VERSION,
        "tiny": tiny.model_dump(mode="json", exclude={"tokenizer_corpora"}),
        "corpora": [file_sha256(path) for path in train_files],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def ensure_tiny_base(tiny: TinyModelSection, train_files: list[Path], cache_root: Path) -> Path:
    """The built-in base as a Hugging Face directory under cache_root, built once per key."""
    missing = [str(path) for path in train_files if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"builtin:tiny trains its tokenizer on model.tiny.tokenizer_corpora, but {missing} do not exist; "
            "generate the corpora (`overnight corpus generate`) or list existing corpora there"
        )
    key = tiny_cache_key(tiny, train_files)
    final_dir = cache_root / f"tiny-{key}"
    if (final_dir / "config.json").is_file():
        return final_dir

    def fill(directory: Path) -> None:
        tokenizer = build_tokenizer(corpus_texts(train_files), tiny.vocab_size)
        model = build_model(tiny, tokenizer)
        with quiet_transformers():
            model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        parameters = sum(p.numel() for p in model.parameters())
        (directory / "builtin.json").write_text(
            json.dumps({"key": key, "parameters": parameters, "tiny": tiny.model_dump(mode="json")}, indent=2)
        )
        log.info("built builtin:tiny", path=str(final_dir), parameters=parameters, vocab=len(tokenizer))

    return write_dir_atomically(final_dir, fill)
