"""Data: loss only on response tokens, overlong examples reported then truncated or dropped, batching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from structlog.testing import capture_logs
from transformers import AutoTokenizer

from hlx.corpus_io import Example, prompt_text
from settings.recipe import TinyModelSection
from training.data import IGNORE_INDEX, collate, encode_examples, epoch_order, response_loss_sum
from training.tiny_model import ensure_tiny_base

from .conftest import FIXTURE_CORPUS, TINY_MODEL


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    base = ensure_tiny_base(
        TinyModelSection(**TINY_MODEL), [FIXTURE_CORPUS / "train.jsonl"], tmp_path_factory.mktemp("b")
    )
    return AutoTokenizer.from_pretrained(str(base))


def example(number: int, instruction: str, response: str) -> Example:
    return Example(f"t/{number}", instruction, response, "convert", "ascii", "lc-t")


def test_labels_cover_the_response_and_eos_only(tokenizer) -> None:  # type: ignore[no-untyped-def]
    item = example(0, "Convert this HLXL value to LC-T: [1, 2]", "[1,2]")
    [encoded], report = encode_examples([item], tokenizer, 128, "drop")
    prompt_ids = tokenizer(prompt_text(item.instruction), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(item.response, add_special_tokens=False)["input_ids"]
    assert list(encoded.input_ids) == [*prompt_ids, *response_ids, tokenizer.eos_token_id]
    assert list(encoded.labels) == [IGNORE_INDEX] * len(prompt_ids) + [*response_ids, tokenizer.eos_token_id]
    assert encoded.target_tokens == len(response_ids) + 1
    assert report.overlong == 0


def test_padding_is_masked_on_either_side(tokenizer) -> None:  # type: ignore[no-untyped-def]
    short, long = encode_examples(
        [example(0, "a", "1"), example(1, "a much longer instruction", "[1,2,3]")], tokenizer, 128, "drop"
    )[0]
    for side in ("right", "left"):
        batch = collate([short, long], tokenizer.pad_token_id, side)
        pads = batch["attention_mask"] == 0
        assert pads.sum() == len(long) - len(short)
        assert (batch["labels"][pads] == IGNORE_INDEX).all()
        assert (batch["input_ids"][pads] == tokenizer.pad_token_id).all()
        row = batch["input_ids"][0]
        kept = row[batch["attention_mask"][0] == 1].tolist()
        assert kept == list(short.input_ids)
        assert (batch["attention_mask"][0, -1] == 1) == (side == "left")


def test_loss_ignores_prompt_and_padding() -> None:
    logits = torch.randn(1, 4, 5)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, IGNORE_INDEX]])
    expected = torch.nn.functional.cross_entropy(logits[0, 1:2], torch.tensor([3]), reduction="sum")
    assert torch.allclose(response_loss_sum(logits, labels), expected)


def test_overlong_examples_are_reported_then_dropped(tokenizer) -> None:  # type: ignore[no-untyped-def]
    items = [example(0, "short", "1"), example(1, "x" * 400, "2"), example(2, "y " * 300, "3")]
    with capture_logs() as logs:
        encoded, report = encode_examples(items, tokenizer, 64, "drop", "corpus/train.jsonl")
    assert [e.id for e in encoded] == ["t/0"]
    assert (report.overlong, report.dropped, report.truncated) == (2, 2, 0)
    assert report.example_ids == ("t/1", "t/2")
    assert report.longest > 64
    [warning] = [entry for entry in logs if entry["event"] == "overlong examples"]
    assert "corpus/train.jsonl: 2 of 3 examples exceed max_length=64 tokens" in warning["detail"]
    assert "truncated 0, dropped 2 (e.g. t/1, t/2)" in warning["detail"]


def test_truncation_keeps_the_prompt_and_cuts_the_response(tokenizer) -> None:  # type: ignore[no-untyped-def]
    items = [example(0, "short", "[" + "1, " * 100 + "1]"), example(1, "z" * 500, "1")]
    encoded, report = encode_examples(items, tokenizer, 48, "truncate")
    assert [e.id for e in encoded] == ["t/0"]
    assert len(encoded[0]) == 48 and len(encoded[0].labels) == 48
    assert encoded[0].target_tokens > 0
    assert (report.truncated, report.dropped) == (1, 1)  # the second has no room left for its response


def test_nothing_fits_is_an_error(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"c\.jsonl: no example fits max_length=8; raise max_length"):
        encode_examples([example(0, "x" * 100, "1")], tokenizer, 8, "drop", "c.jsonl")


def test_epoch_order_is_seeded_per_epoch_and_bucketed() -> None:
    lengths = [(i * 37) % 50 for i in range(100)]
    first = epoch_order(lengths, seed=3, epoch=0, bucket_size=25)
    assert sorted(first) == list(range(100))
    assert first == epoch_order(lengths, seed=3, epoch=0, bucket_size=25)
    assert first != epoch_order(lengths, seed=3, epoch=1, bucket_size=25)
    for start in range(0, 100, 25):
        chunk = [lengths[i] for i in first[start : start + 25]]
        assert chunk == sorted(chunk)


def test_fixture_corpus_reads(tokenizer) -> None:  # type: ignore[no-untyped-def]
    from training.data import load_split

    examples, encoded, report = load_split(Path(FIXTURE_CORPUS / "val.jsonl"), tokenizer, 128, "drop")
    assert len(examples) == len(encoded) == 12 and report.overlong == 0


def test_graded_subset_is_balanced_across_task_families() -> None:
    from training.evaluate import graded_subset

    counts = (("b", 1), ("a", 5), ("c", 3))
    items = [Example(f"v/{t}{i}", "x", "y", t, "ascii", "text") for t, n in counts for i in range(n)]
    chosen = graded_subset(items, 6)
    assert [e.id for e in chosen] == ["v/a0", "v/b0", "v/c0", "v/a1", "v/c1", "v/a2"]
    assert len(graded_subset(items, 100)) == 9
