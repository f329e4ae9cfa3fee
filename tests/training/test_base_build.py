"""The shipped base's build: held-out val instructions, the manifest's integrity check, a whole tiny build."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from hlx.corpus_gen import generate_all
from hlx.corpus_io import read_corpus, write_corpus
from settings.model import TinyModelSection, shipped_base_problem
from training.base_build import build_base, generate_base_data, publish_base
from training.base_spec import CORPORA, DEFAULT_BUILD

REPO = Path(__file__).resolve().parents[2]
SMALL_SHAPE = TinyModelSection(
    hidden_size=32, intermediate_size=64, num_layers=1, num_heads=1, num_kv_heads=1, head_dim=32,
    max_position_embeddings=512, tokenizer_corpora=list(CORPORA),
)  # fmt: skip


def _corpora_with_val(tmp_path: Path, rows: int) -> Path:
    """A corpora directory whose val splits are the shipped ones' first `rows` records."""
    corpora = tmp_path / "corpora"
    for name in CORPORA:
        (corpora / name).mkdir(parents=True)
        write_corpus(corpora / name / "val.jsonl", read_corpus(REPO / "corpora" / name / "val.jsonl")[:rows])
    return corpora


def test_every_instruction_of_the_shipped_val_splits_is_kept_out_of_the_base_data(tmp_path: Path) -> None:
    corpora = _corpora_with_val(tmp_path, 3)
    build = dataclasses.replace(DEFAULT_BUILD, size=60, data_seed=5)
    generated = {corpus.name: corpus.splits["train"] for corpus in generate_all(seed=5, train_size=60)}
    # Plant two generated train instructions in the ascii val split: the build must drop exactly those.
    planted = generated["ascii_specialist"][:2]
    val_path = corpora / "ascii_specialist" / "val.jsonl"
    write_corpus(val_path, [*read_corpus(val_path), *planted])

    dropped = generate_base_data(build, corpora, tmp_path / "data")

    assert dropped["ascii_specialist"] >= 2
    for name in CORPORA:
        train = read_corpus(tmp_path / "data" / name / "train.jsonl")
        val_instructions = {ex.instruction for n in CORPORA for ex in read_corpus(corpora / n / "val.jsonl")}
        assert not {ex.instruction for ex in train} & val_instructions
        assert len(train) == 60 - dropped[name]
        assert read_corpus(tmp_path / "data" / name / "val.jsonl") == read_corpus(
            corpora / name / "val.jsonl"
        )


def test_a_whole_tiny_build_publishes_weights_manifest_and_card(tmp_path: Path) -> None:
    corpora = _corpora_with_val(tmp_path, 6)
    build = dataclasses.replace(DEFAULT_BUILD, size=40, epochs=1, threads=1, shape=SMALL_SHAPE)
    out = build_base(build, corpora, tmp_path / "work", tmp_path / "hlx-base")

    manifest = json.loads((out / "base.json").read_text())
    assert manifest["weights_sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    assert shipped_base_problem(out) is None
    assert manifest["build"]["size"] == 40 and manifest["command"] == "overnight base build"
    assert manifest["train_tokens"] > 0 and len(manifest["curve"]) == 1
    for mode in ("free", "grammar"):
        assert set(manifest["grades"][mode]) == set(CORPORA)
        assert all(grades["n"] == 6 for grades in manifest["grades"][mode].values())
    card = (out / "README.md").read_text()
    assert "| ascii_specialist | **all** | 6 |" in card
    assert "overnight base build" in card
    # Publishing again replaces the base, leaving no backup or half-filled directory behind.
    (out / "stale").write_text("from the first publish")
    model_dir = next((tmp_path / "work" / "runs" / "_builtin").glob("foundation-*/model"))
    publish_base(model_dir, out, {**manifest, "grades": manifest["grades"]})
    assert not (out / "stale").exists() and shipped_base_problem(out) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpora", "hlx-base", "work"]


def test_the_same_build_twice_gives_the_same_weights_bit_for_bit(tmp_path: Path) -> None:
    # What makes `overnight base build` reproduce the shipped base: data, tokenizer and training are seeded,
    # and one torch thread keeps the CPU kernels' summation order fixed.
    corpora = _corpora_with_val(tmp_path, 2)
    build = dataclasses.replace(DEFAULT_BUILD, size=30, epochs=1, threads=1, shape=SMALL_SHAPE)
    first = build_base(build, corpora, tmp_path / "work1", tmp_path / "base1")
    second = build_base(build, corpora, tmp_path / "work2", tmp_path / "base2")
    digests = [json.loads((out / "base.json").read_text())["weights_sha256"] for out in (first, second)]
    assert digests[0] == digests[1]
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
