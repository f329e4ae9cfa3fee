"""Seeded, deterministic generation of the three shipped corpora, every response computed by the toolkit."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hlx.corpus_io import (
    DEFAULT_MAX_TOKENS,
    Example,
    canonical_instruction,
    estimated_tokens,
    write_corpus,
)
from hlx.tasks_common import CorpusSpec, Draft, Family, Redraw, wider_values
from hlx.tasks_corpora import CORPUS_SPECS

DEFAULT_SEED = 20240601
DEFAULT_TRAIN_SIZE = 2000
SPLITS: tuple[str, ...] = ("train", "val")
# Draws per example before giving up: the value spaces are large, so running out means a maker is broken.
MAX_ATTEMPTS = 400
# Draws from the small value space before a slot widens it (hlx.tasks_common.wider_values). The shipped
# corpora never need more than 6 in a row, so they are drawn from the small space alone; a big --size
# exhausts some small spaces (428 texts, 620 handle names) and goes on in the wide one.
WIDEN_AFTER = 50

@dataclass
class SplitStats:
    """What one generated split holds, for the balance report."""

    records: int = 0
    tasks: Counter[str] = field(default_factory=Counter)
    shapes: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    tracks: Counter[str] = field(default_factory=Counter)
    redraws: int = 0
    # The most draws one example needed: the margin left before MAX_ATTEMPTS (and past WIDEN_AFTER, the
    # sign that a slot has used up its small value space).
    most_draws: int = 0

    def add(self, draft: Draft, track: str) -> None:
        self.records += 1
        self.tasks[draft.task] += 1
        self.shapes[draft.shape] += 1
        self.formats[draft.format] += 1
        self.tracks[track] += 1


@dataclass(frozen=True)
class GeneratedCorpus:
    """The examples of one corpus per split, with their stats."""

    name: str
    splits: dict[str, list[Example]]
    stats: dict[str, SplitStats]


class GenerationError(RuntimeError):
    """A task maker could not produce a fresh example within MAX_ATTEMPTS draws."""


class _SlotExhausted(Exception):
    """_draw's failure, before generate_corpus names the corpus, split and example."""


def val_size_for(train_size: int) -> int:
    """Val split size: a tenth of train, at least one."""
    return max(1, train_size // 10)


def _draw(rng: random.Random, family: Family, slot: int, seen: set[str], max_tokens: int,
          stats: SplitStats) -> Draft:
    shape, makers = family.slots[slot]
    for attempt in range(MAX_ATTEMPTS):
        maker = rng.choice(makers)
        try:
            with wider_values(attempt >= WIDEN_AFTER):
                draft = maker(rng, shape)
        except Redraw:
            stats.redraws += 1
            continue
        key = canonical_instruction(draft.instruction)
        probe = Example("", draft.instruction, draft.response, draft.task, draft.track, draft.format)
        if key in seen or estimated_tokens(probe) > max_tokens:
            stats.redraws += 1
            continue
        seen.add(key)
        stats.most_draws = max(stats.most_draws, attempt + 1)
        return draft
    raise _SlotExhausted(f"task {family.task!r} shape {shape!r}")


def _exhausted(corpus: str, split: str, index: int, slot: str) -> GenerationError:
    return GenerationError(
        f"{slot}: no fresh example within {MAX_ATTEMPTS} draws (corpus {corpus!r}, {split} example "
        f"{index + 1}), even from the wide value space; lower --size, or add values to that task's maker "
        "(hlx/tasks_*.py) or to the wide space (hlx/tasks_common.py)"
    )


def generate_corpus(spec: CorpusSpec, seed: int = DEFAULT_SEED, train_size: int = DEFAULT_TRAIN_SIZE,
                    max_tokens: int = DEFAULT_MAX_TOKENS) -> GeneratedCorpus:
    """Both splits of one corpus; val is drawn first and train never repeats a val instruction."""
    rng = random.Random(f"{spec.name}:{seed}")
    seen: set[str] = set()
    sizes = {"val": val_size_for(train_size), "train": train_size}
    splits: dict[str, list[Example]] = {}
    stats: dict[str, SplitStats] = {}
    for split in ("val", "train"):
        split_stats = SplitStats()
        examples: list[Example] = []
        turns: Counter[str] = Counter()
        for index in range(sizes[split]):
            # Round-robin over families, and within a family over its (shape, makers) slots,
            # keeps tasks and shapes balanced by construction.
            family = spec.families[index % len(spec.families)]
            slot = turns[family.task] % len(family.slots)
            turns[family.task] += 1
            try:
                draft = _draw(rng, family, slot, seen, max_tokens, split_stats)
            except _SlotExhausted as err:
                raise _exhausted(spec.name, split, index, str(err)) from None
            track = spec.track or draft.track
            split_stats.add(draft, track)
            examples.append(Example(f"{spec.name}/{split}/{index:06d}", draft.instruction, draft.response,
                                    draft.task, track, draft.format))
        splits[split] = examples
        stats[split] = split_stats
    return GeneratedCorpus(spec.name, {split: splits[split] for split in SPLITS},
                           {split: stats[split] for split in SPLITS})


def generate_all(seed: int = DEFAULT_SEED, train_size: int = DEFAULT_TRAIN_SIZE,
                 max_tokens: int = DEFAULT_MAX_TOKENS) -> list[GeneratedCorpus]:
    """The three shipped corpora (phase1_general, ascii_specialist, runic_specialist), one RNG each."""
    return [generate_corpus(spec, seed, train_size, max_tokens) for spec in CORPUS_SPECS]


def write_generated(corpus: GeneratedCorpus, out_dir: str | Path) -> list[Path]:
    """Write <out>/<name>/train.jsonl and val.jsonl atomically; returns the written paths."""
    written: list[Path] = []
    for split in SPLITS:
        path = Path(out_dir) / corpus.name / f"{split}.jsonl"
        write_corpus(path, corpus.splits[split])
        written.append(path)
    return written
