"""Tests for the corpus generator: reproducing the committed corpora, balance, leakage, budget, phrasing."""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from hlx.checker import check
from hlx.corpus_gen import (
    DEFAULT_SEED,
    DEFAULT_TRAIN_SIZE,
    WIDEN_AFTER,
    GeneratedCorpus,
    GenerationError,
    generate_all,
    generate_corpus,
    val_size_for,
    write_generated,
)
from hlx.corpus_io import DEFAULT_MAX_TOKENS, canonical_instruction, estimated_tokens
from hlx.corpus_validate import validate_paths
from hlx.formats import render
from hlx.tasks_common import MORE_WORDS, TEXT_EXTRAS, WORDS, CorpusSpec, Draft, family
from hlx.tasks_corpora import CORPUS_NAMES, CORPUS_SPECS
from hlx.tasks_values import make_parse

REPO = Path(__file__).resolve().parents[2]
SMALL = 220

# The phrasings a router can rely on: each names the target format or the LS track and format.
FORMAT = r"(HLXL|LC-T|LC-R|LC-B)"
LS_INPUT = r"(HLXL-LS (HLXL|LC-T|HLXL program)|HLX-LS (LC-R|HLX program))"
PHRASINGS: dict[str, str] = {
    "convert": rf"Convert to {FORMAT}: ",
    "parse": r"Parse (LC-T|LC-R|LC-B) into HLXL: ",
    "validate": rf"Validate ({FORMAT}|HLXL program|HLX program): ",
    "transliterate": r"Transliterate to (HLX|HLXL): ",
    "diagnose": r"(HLXL-LS diagnose (HLXL|LC-T|HLXL program)|HLX-LS diagnose (LC-R|HLX program)): ",
    "hover": r"(HLXL-LS hover (HLXL|LC-T)|HLX-LS hover LC-R) at offset [0-9]+: ",
    "complete": r"(HLXL-LS complete (HLXL|LC-T)|HLX-LS complete LC-R): ",
    "rename": r"(HLXL-LS rename handle \w+ to \w+ in (HLXL|LC-T)|HLX-LS rename handle \w+ to \w+ in LC-R): ",
    "format": r"(HLXL-LS format (HLXL|LC-T|HLXL program)|HLX-LS format (LC-R|HLX program)): ",
    "infer": r"(HLXL-LS infer (HLXL|LC-T)|HLX-LS infer LC-R): ",
    "explain": r"Explain contract: \{[0-9]+: ",
}


@pytest.fixture(scope="module")
def small_corpora() -> list[GeneratedCorpus]:
    return generate_all(seed=11, train_size=SMALL)


def test_committed_corpora_reproduce_byte_for_byte(tmp_path: Path) -> None:
    for corpus in generate_all(seed=DEFAULT_SEED, train_size=DEFAULT_TRAIN_SIZE):
        for written in write_generated(corpus, tmp_path):
            committed = REPO / "corpora" / corpus.name / written.name
            assert committed.read_bytes() == written.read_bytes(), (
                f"{committed} differs from a fresh generation; run `overnight corpus generate` and commit"
            )
        # Why widening left them unchanged: no default example needed the wide value space.
        assert all(stats.most_draws < WIDEN_AFTER for stats in corpus.stats.values()), corpus.name


def test_generation_is_deterministic_and_seeded() -> None:
    spec = CORPUS_SPECS[0]
    first = generate_corpus(spec, seed=5, train_size=40)
    assert first.splits == generate_corpus(spec, seed=5, train_size=40).splits
    assert first.splits != generate_corpus(spec, seed=6, train_size=40).splits


def test_sizes_ids_and_names(small_corpora: list[GeneratedCorpus]) -> None:
    assert [corpus.name for corpus in small_corpora] == list(CORPUS_NAMES)
    assert CORPUS_NAMES == ("phase1_general", "ascii_specialist", "runic_specialist")
    for corpus in small_corpora:
        assert len(corpus.splits["train"]) == SMALL
        assert len(corpus.splits["val"]) == val_size_for(SMALL) == 22
        assert corpus.splits["val"][3].id == f"{corpus.name}/val/000003"


def test_default_size_meets_the_floor() -> None:
    assert DEFAULT_TRAIN_SIZE >= 2000 and val_size_for(DEFAULT_TRAIN_SIZE) >= 200


def test_tasks_and_shapes_are_balanced(small_corpora: list[GeneratedCorpus]) -> None:
    for corpus, spec in zip(small_corpora, CORPUS_SPECS, strict=True):
        for split, stats in corpus.stats.items():
            counts = stats.tasks.values()
            assert max(counts) - min(counts) <= 1, (corpus.name, split, stats.tasks)
            assert set(stats.tasks) == {fam.task for fam in spec.families}
        per_family: dict[str, Counter[str]] = {}
        for example, shape in _train_shapes(corpus, spec):
            per_family.setdefault(example, Counter())[shape] += 1
        for task, shapes in per_family.items():
            assert max(shapes.values()) - min(shapes.values()) <= 1, (corpus.name, task, shapes)


def _train_shapes(corpus: GeneratedCorpus, spec: CorpusSpec) -> list[tuple[str, str]]:
    turns: Counter[str] = Counter()
    pairs = []
    for index in range(len(corpus.splits["train"])):
        fam = spec.families[index % len(spec.families)]
        pairs.append((fam.task, fam.slots[turns[fam.task] % len(fam.slots)][0]))
        turns[fam.task] += 1
    return pairs


def test_no_duplicates_no_leakage_within_budget(small_corpora: list[GeneratedCorpus]) -> None:
    for corpus in small_corpora:
        keys = [canonical_instruction(ex.instruction) for split in corpus.splits.values() for ex in split]
        assert len(keys) == len(set(keys))
        examples = [ex for split in corpus.splits.values() for ex in split]
        assert all(estimated_tokens(ex) <= DEFAULT_MAX_TOKENS for ex in examples)


def test_every_reference_is_valid_in_its_format(small_corpora: list[GeneratedCorpus]) -> None:
    for corpus in small_corpora:
        for example in corpus.splits["train"]:
            verdict = check(example.response, example.response, example.format)
            assert verdict.valid and verdict.correct, (example, verdict)


def test_instructions_name_their_format(small_corpora: list[GeneratedCorpus]) -> None:
    for corpus in small_corpora:
        for example in corpus.splits["train"]:
            assert re.match(PHRASINGS[example.task], example.instruction), example


def test_specialists_stay_on_their_track(small_corpora: list[GeneratedCorpus]) -> None:
    general, ascii_corpus, runic_corpus = small_corpora
    assert {ex.track for ex in ascii_corpus.splits["train"]} == {"ascii"}
    assert {ex.format for ex in ascii_corpus.splits["train"]} == {
        "hlxl", "lc-t", "hlxl-program", "diagnostic", "text",
    }
    assert {ex.track for ex in runic_corpus.splits["train"]} == {"runic"}
    assert {ex.format for ex in runic_corpus.splits["train"]} == {
        "lc-r", "hlxl", "hlx-program", "diagnostic", "text",
    }
    assert {ex.track for ex in general.splits["train"]} == {"ascii", "runic", "general"}
    assert {ex.format for ex in general.splits["train"]} == {
        "hlxl", "lc-t", "lc-r", "lc-b", "hlxl-program", "hlx-program", "diagnostic", "text",
    }


def test_validate_and_diagnose_mix_valid_and_broken_inputs(small_corpora: list[GeneratedCorpus]) -> None:
    for corpus in small_corpora:
        answers = Counter(ex.response == "OK" for ex in corpus.splits["train"] if ex.format == "diagnostic")
        assert 0.35 < answers[True] / sum(answers.values()) < 0.7, (corpus.name, answers)


def test_generated_corpora_pass_the_validator(small_corpora: list[GeneratedCorpus], tmp_path: Path) -> None:
    for corpus in small_corpora:
        write_generated(corpus, tmp_path)
    report = validate_paths([tmp_path])
    assert report.ok, [str(problem) for problem in report.problems[:5]]
    assert len(report.files) == 6


def test_a_maker_with_no_fresh_examples_fails_loudly() -> None:
    def same(rng: random.Random, shape: str) -> Draft:
        return Draft("Convert to HLXL: 1", "1", "convert", "hlxl", shape, "ascii")

    spec = CorpusSpec("tiny", None, (family("convert", (("scalar",), (same,))),))
    # Val (one example) is drawn first and takes the only instruction; train's first finds none.
    message = (
        "task 'convert' shape 'scalar': no fresh example within 400 draws (corpus 'tiny', train example 1), "
        "even from the wide value space; lower --size, or add values to that task's maker (hlx/tasks_*.py) "
        "or to the wide space (hlx/tasks_common.py)"
    )
    with pytest.raises(GenerationError, match=f"^{re.escape(message)}$"):
        generate_corpus(spec, seed=1, train_size=10)


def test_most_draws_counts_the_draws_of_the_hardest_example() -> None:
    answers = iter(["1", "1", "1", "2"])

    def repeating(rng: random.Random, shape: str) -> Draft:
        value = next(answers)
        return Draft(f"Convert to HLXL: {value}", value, "convert", "hlxl", shape, "ascii")

    spec = CorpusSpec("tiny", None, (family("convert", (("scalar",), (repeating,))),))
    corpus = generate_corpus(spec, seed=1, train_size=1)
    assert corpus.stats["val"].most_draws == 1
    assert corpus.stats["train"].most_draws == 3
    assert corpus.stats["train"].redraws == 2


def _small_texts() -> set[str]:
    """The 428 texts of the small value space: a word, two words, or an extra."""
    return {*WORDS, *(f"{a} {b}" for a in WORDS for b in WORDS), *TEXT_EXTRAS}


def test_a_slot_past_its_small_value_space_draws_from_the_wide_one() -> None:
    # `--size 30000` used to stop at `task 'parse' shape 'text'`: LC-R parse prompts of a text are only
    # 428, and this spec asks for 550 of them.
    lc_r_parses = (("text",), (partial(make_parse, sources=("lc-r",)),))
    spec = CorpusSpec("wide", None, (family("parse", lc_r_parses),))
    corpus = generate_corpus(spec, seed=3, train_size=500)
    examples = corpus.splits["val"] + corpus.splits["train"]
    texts = [example.instruction.removeprefix("Parse LC-R into HLXL: ") for example in examples]
    assert len(set(texts)) == len(texts) == 550
    small = {render(text, "lc-r") for text in _small_texts()}
    assert all(text in small for text in texts[:50]), "the small space comes first"
    wide = [text for text in texts if text not in small]
    assert len(wide) >= 550 - len(small)
    assert any(word in text for text in wide for word in MORE_WORDS)
