"""Build the shipped base (`builtin:hlx`): generate verified HLX data, train a Qwen3 shape on it with the
foundation recipe, grade it per family on the shipped val splits, and publish it with its model card."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import structlog
import torch

from fileio.atomic import write_json_atomic, write_text_atomic
from fileio.digest import file_sha256
from hlx.corpus_gen import generate_all
from hlx.corpus_io import Example, read_corpus, write_corpus
from settings.model import BASE_MANIFEST, BASE_WEIGHTS, BUILTIN_TINY, SHIPPED_BASE_DIR
from settings.recipe import RecipeConfig, config_from_dict
from training.base_card import model_card
from training.base_spec import CORPORA, BaseBuild
from training.checkpoint import write_dir_atomically
from training.evaluate import generate_answers, grade
from training.model import load_for_inference, load_tokenizer, pick_device
from training.recipe import train_foundation
from training.results import PhaseResult

GENERAL, *SPECIALIST_CORPORA = CORPORA
BUILD_COMMAND = "overnight base build"
log = structlog.get_logger(__name__)


def held_out_instructions(corpora_dir: Path) -> set[str]:
    """Instructions of the shipped val splits: the base never trains on what the nights are graded on."""
    return {
        example.instruction for name in CORPORA for example in read_corpus(corpora_dir / name / "val.jsonl")
    }


def generate_base_data(build: BaseBuild, corpora_dir: Path, data_dir: Path) -> dict[str, int]:
    """Write <data_dir>/<corpus>/train.jsonl from the generator, minus any held-out instruction; val.jsonl
    is the shipped val split (what the foundation recipe evaluates on). Returns the drops per corpus."""
    held_out = held_out_instructions(corpora_dir)
    dropped: dict[str, int] = {}
    for corpus in generate_all(seed=build.data_seed, train_size=build.size):
        kept: list[Example] = [ex for ex in corpus.splits["train"] if ex.instruction not in held_out]
        dropped[corpus.name] = len(corpus.splits["train"]) - len(kept)
        write_corpus(data_dir / corpus.name / "train.jsonl", kept)
        shutil.copyfile(corpora_dir / corpus.name / "val.jsonl", data_dir / corpus.name / "val.jsonl")
    return dropped


def base_recipe(build: BaseBuild, work_dir: Path) -> RecipeConfig:
    """The foundation recipe over all three generated corpora: a full fine-tune of a random builtin:tiny."""
    return config_from_dict(
        {
            "run": {"name": "hlx-base", "output_dir": str(work_dir / "runs"),
                    "corpora_dir": str(work_dir / "data"), "seed": build.seed},
            "model": {"base_model": BUILTIN_TINY, "method": "full",
                      "tiny": build.shape.model_dump(mode="json")},
            "training": {
                "learning_rate": build.peak_lr, "warmup_ratio": 0.02, "schedule": "cosine",
                "micro_batch_size": build.micro_batch_size, "grad_accum_steps": 1, "max_grad_norm": 1.0,
                "max_length": 256, "overlong": "drop", "checkpoint_every_epochs": 1, "keep_last": 1,
                "eval_every_epochs": 1, "eval_subset": 96, "eval_batch_size": 48, "max_new_tokens": 160,
                "eval_at_start": False,
            },
            "foundation": {"corpus": GENERAL, "extra_corpora": list(SPECIALIST_CORPORA),
                           "epochs": build.epochs, "learning_rate": build.peak_lr},
            "specialists": {},
        },
        source="base build",
    )  # fmt: skip


def grade_per_family(model_dir: Path, corpora_dir: Path, constrained: bool) -> dict[str, Any]:
    """Greedy answers to every example of each shipped val split, graded by the checker per task family."""
    model = load_for_inference(model_dir)
    tokenizer = load_tokenizer(model_dir)
    grades: dict[str, Any] = {}
    for name in CORPORA:
        examples = read_corpus(corpora_dir / name / "val.jsonl")
        answers = generate_answers(
            model, tokenizer, examples, 48, 160, pick_device(), lambda: None, constrained=constrained
        )
        per_task, _ = grade(examples, answers)
        n = sum(score.n for score in per_task.values())
        grades[name] = {
            "n": n,
            "exact_match": round(sum(s.exact_match * s.n for s in per_task.values()) / n, 4),
            "format_validity": round(sum(s.format_validity * s.n for s in per_task.values()) / n, 4),
            "per_task": {task: score.model_dump() for task, score in sorted(per_task.items())},
        }
    return grades


def build_base(build: BaseBuild, corpora_dir: Path, work_dir: Path, out_dir: Path = SHIPPED_BASE_DIR) -> Path:
    """Generate, train, grade and publish; returns out_dir. Rerunning resumes the training from its
    newest checkpoint under work_dir."""
    threads = torch.get_num_threads()
    if build.threads:
        torch.set_num_threads(build.threads)
    try:
        return _build_base(build, corpora_dir, work_dir, out_dir)
    finally:
        torch.set_num_threads(threads)


def _build_base(build: BaseBuild, corpora_dir: Path, work_dir: Path, out_dir: Path) -> Path:
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    data_dir = work_dir / "data"
    dropped = generate_base_data(build, corpora_dir, data_dir)
    log.info("base data written", path=str(data_dir), held_out_dropped=dropped)
    result = train_foundation(base_recipe(build, work_dir))
    if result.status != "completed":
        raise RuntimeError(f"the base's training stopped: {result.status} ({result.reason})")
    model_dir = result.phase_dir.parent / "model"
    grades = {
        mode: grade_per_family(model_dir, corpora_dir, mode == "grammar") for mode in ("free", "grammar")
    }
    facts = _facts(build, result, dropped, grades, time.process_time() - cpu_started,
                   time.perf_counter() - wall_started)  # fmt: skip
    publish_base(model_dir, out_dir, facts)
    return out_dir


def _facts(build: BaseBuild, result: PhaseResult, dropped: dict[str, int], grades: dict[str, Any],
           cpu_s: float, wall_s: float) -> dict[str, Any]:  # fmt: skip
    return {
        "command": BUILD_COMMAND,
        "build": {"size": build.size, "data_seed": build.data_seed, "seed": build.seed,
                  "epochs": build.epochs, "peak_lr": build.peak_lr,
                  "micro_batch_size": build.micro_batch_size,
                  "shape": build.shape.model_dump(mode="json")},
        "held_out_dropped": dropped,
        "train_tokens": result.train_tokens,
        "steps": result.steps,
        "curve": [{"epoch": e.epoch, "val_loss": e.val_loss, "exact_match": e.exact_match}
                  for e in result.evals],
        "cpu_hours": round(cpu_s / 3600, 3),
        "wall_hours": round(wall_s / 3600, 3),
        "threads": torch.get_num_threads(),
        "grades": grades,
    }  # fmt: skip


def publish_base(model_dir: Path, out_dir: Path, facts: dict[str, Any]) -> None:
    """Copy the trained weights and tokenizer to out_dir with a manifest (the weights' sha256, checked at
    config load) and a model card, replacing any earlier base."""

    def fill(target: Path) -> None:
        for path in model_dir.iterdir():
            if path.is_file():
                shutil.copy2(path, target / path.name)
        parameters = sum(p.numel() for p in load_for_inference(target).parameters())
        manifest = {**facts, "parameters": parameters, "weights_sha256": file_sha256(target / BASE_WEIGHTS)}
        write_json_atomic(target / BASE_MANIFEST, manifest)
        write_text_atomic(target / "README.md", model_card(manifest))

    # Fill a fresh directory first, then swap: a failure while filling leaves the published base as it was.
    fresh = out_dir.with_name(f".new-{out_dir.name}")
    if fresh.exists():
        shutil.rmtree(fresh)  # a crashed publish's leftovers, never reused
    write_dir_atomically(fresh, fill)
    backup = out_dir.with_name(f".old-{out_dir.name}")
    if backup.exists():
        shutil.rmtree(backup)
    if out_dir.exists():
        out_dir.rename(backup)
    fresh.rename(out_dir)
    if backup.exists():
        shutil.rmtree(backup)
    log.info(
        "base published", path=str(out_dir), manifest=json.dumps(facts["grades"]["free"], default=str)[:200]
    )
