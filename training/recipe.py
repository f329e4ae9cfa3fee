"""Public entry points: train the foundation, a specialist, or one phase, from a plain Python call."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import structlog

from fileio.atomic import write_json_atomic
from fileio.digest import file_sha256
from settings.errors import ConfigError, ConfigProblem
from settings.model import BUILTIN_HLX, base_model_path
from settings.recipe import BUILTIN_TINY, FOUNDATION, FaultInjection, RecipeConfig, base_model_problem
from training.checkpoint import (
    list_checkpoints,
    read_state,
    verify_checkpoint,
    write_dir_atomically,
)
from training.hooks import TrainerHooks
from training.loop import PhasePlan, run_phase
from training.model import Method
from training.progress import progress_wanted
from training.results import PhaseResult, TrainResult
from training.shipped_base import pinned_shipped_base
from training.tiny_model import ensure_tiny_base

BUILTIN_DIR = "_builtin"
FOUNDATION_PHASE = "general"
log = structlog.get_logger(__name__)


def builtin_root(config: RecipeConfig) -> Path:
    return config.run.output_dir / BUILTIN_DIR


def check_inputs(config: RecipeConfig, stages: list[str]) -> None:
    """Fail before any training when the base model or a corpus is missing (every problem at once)."""
    problems: list[ConfigProblem] = []
    reason = base_model_problem(config.model.base_model)
    if reason:
        problems.append(ConfigProblem("model.base_model", reason))
    corpora: list[tuple[str, str]] = []
    if config.model.base_model == BUILTIN_TINY:
        corpora += [("model.tiny.tokenizer_corpora", name) for name in config.model.tiny.tokenizer_corpora]
        corpora.append(("foundation.corpus", config.foundation.corpus))
        corpora += [("foundation.extra_corpora", extra) for extra in config.foundation.extra_corpora]
    for name in stages:
        if name == FOUNDATION:
            continue
        if name not in config.specialists:
            known = ", ".join(sorted(config.specialists)) or "(none)"
            problems.append(
                ConfigProblem("specialists", f"no specialist named {name!r}; configured: {known}")
            )
            continue
        specialist = config.specialists[name]
        for index, phase in enumerate(specialist.phases):
            key = f"specialists.{name}.phases[{index}]"
            corpora.append((f"{key}.corpus", phase.corpus or specialist.corpus))
            corpora += [(f"{key}.extra_corpora", extra) for extra in phase.extra_corpora]
    for key, corpus in dict.fromkeys(corpora):
        directory = config.corpus_dir(corpus)
        for split in ("train", "val"):
            if not (directory / f"{split}.jsonl").is_file():
                problems.append(
                    ConfigProblem(
                        key,
                        f"corpus {corpus!r} has no {directory / f'{split}.jsonl'}; generate the corpora "
                        "(`overnight corpus generate`), fix run.corpora_dir, or name a directory holding "
                        "train.jsonl and val.jsonl",
                    )
                )
    if problems:
        raise ConfigError("config", problems)


def tiny_base_dir(config: RecipeConfig) -> Path:
    """The randomly initialised builtin:tiny base (built once, cached)."""
    files = [config.corpus_dir(name) / "train.jsonl" for name in config.model.tiny.tokenizer_corpora]
    return ensure_tiny_base(config.model.tiny, files, builtin_root(config))


def foundation_key(config: RecipeConfig, tiny_dir: Path) -> str:
    """Hash of everything the foundation depends on: the base, its settings, its corpus and the seed."""
    corpus = config.corpus_dir(config.foundation.corpus)
    payload = {
        "base": tiny_dir.name,
        "settings": config.settings_for(config.foundation).model_dump(mode="json"),
        "epochs": config.foundation.epochs,
        "seed": config.run.seed,
        "dtype": config.model.dtype,
        "corpus": [file_sha256(corpus / "train.jsonl"), file_sha256(corpus / "val.jsonl")],
        "extra": [file_sha256(path) for path in extra_train_files(config, config.foundation.extra_corpora)],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def extra_train_files(config: RecipeConfig, corpora: list[str]) -> tuple[Path, ...]:
    return tuple(config.corpus_dir(name) / "train.jsonl" for name in corpora)


def foundation_home(config: RecipeConfig) -> Path:
    return builtin_root(config) / f"foundation-{foundation_key(config, tiny_base_dir(config))}"


def foundation_model_dir(config: RecipeConfig) -> Path | None:
    """The finished foundation (a standalone Hugging Face directory), or None when not trained yet."""
    model_dir = foundation_home(config) / "model"
    return model_dir if (model_dir / "config.json").is_file() else None


def foundation_plan(config: RecipeConfig) -> PhasePlan:
    tiny_dir = tiny_base_dir(config)
    home = builtin_root(config) / f"foundation-{foundation_key(config, tiny_dir)}"
    return PhasePlan(
        specialist=FOUNDATION,
        phase=FOUNDATION_PHASE,
        corpus_dir=config.corpus_dir(config.foundation.corpus),
        epochs=config.foundation.epochs,
        settings=config.settings_for(config.foundation),
        faults=config.foundation.faults,
        method="full",
        model=config.model,
        base_dir=tiny_dir,
        init_weights=None,
        phase_dir=home / FOUNDATION_PHASE,
        seed=config.run.seed,
        extra_train=extra_train_files(config, config.foundation.extra_corpora),
    )


def train_foundation(
    config: RecipeConfig, hooks: TrainerHooks | None = None, resume: bool = True, progress: bool | None = None
) -> PhaseResult:
    """Full fine-tune of builtin:tiny on the general corpus; the result (the coordinator, and the base
    of every LoRA specialist) is published to `<output_dir>/_builtin/foundation-<key>/model`."""
    if config.model.base_model != BUILTIN_TINY:
        reason = f"the foundation stage only exists for '{BUILTIN_TINY}'; this base is already pretrained"
        raise ConfigError("config", [ConfigProblem("model.base_model", reason)])
    check_inputs(config, [FOUNDATION])
    plan = foundation_plan(config)
    result = run_phase(plan, hooks, resume, progress_wanted(progress))
    model_dir = plan.phase_dir.parent / "model"
    if result.status == "completed" and not (model_dir / "config.json").is_file():
        final = result.final_checkpoint
        if final is None or verify_checkpoint(final) is not None:
            raise RuntimeError(f"foundation finished but its final checkpoint {final} is missing or corrupt")
        source = final / read_state(final)["weights"]
        write_dir_atomically(model_dir, lambda target: _copy_tree(source, target))
        write_json_atomic(
            plan.phase_dir.parent / "foundation.json",
            {
                "checkpoint": str(final),
                "last_eval": result.last_eval.model_dump(mode="json") if result.last_eval else None,
            },
        )
        log.info("foundation published", path=str(model_dir))
    return result


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.iterdir():
        shutil.copy2(path, target / path.name)


def base_model_dir(config: RecipeConfig) -> Path:
    """What specialists train on: the foundation for builtin:tiny (trained if needed), the run's copy of
    the shipped base for builtin:hlx, else the local base."""
    if config.model.base_model == BUILTIN_HLX:
        return pinned_shipped_base(builtin_root(config))
    if config.model.base_model != BUILTIN_TINY:
        return base_model_path(config.model.base_model)
    existing = foundation_model_dir(config)
    if existing is None:
        raise FileNotFoundError(
            "the foundation has not been trained yet; call train_foundation(config) first"
        )
    return existing


def specialist_plans(config: RecipeConfig, name: str, base_dir: Path) -> list[PhasePlan]:
    """One plan per phase; each phase starts from the previous phase's final checkpoint."""
    specialist = config.specialists[name]
    method: Method = config.model.method
    plans = []
    for index, phase in enumerate(specialist.phases):
        plans.append(
            PhasePlan(
                specialist=name,
                phase=phase.name,
                corpus_dir=config.corpus_dir(phase.corpus or specialist.corpus),
                epochs=phase.epochs,
                settings=config.settings_for(phase),
                faults=specialist.faults.get(phase.name, FaultInjection()),
                method=method,
                model=config.model,
                base_dir=base_dir,
                init_weights=None,
                phase_dir=config.run_dir() / name / phase.name,
                seed=config.run.seed + index,
                extra_train=extra_train_files(config, phase.extra_corpora),
            )
        )
    return plans


def _with_init(plan: PhasePlan, previous: PhaseResult | None) -> PhasePlan:
    if previous is None or previous.final_checkpoint is None:
        return plan
    weights = previous.final_checkpoint / read_state(previous.final_checkpoint)["weights"]
    return PhasePlan(**{**plan.__dict__, "init_weights": weights})


def train_phase(
    config: RecipeConfig,
    specialist_name: str,
    phase_name: str,
    hooks: TrainerHooks | None = None,
    resume: bool = True,
    progress: bool | None = None,
) -> PhaseResult:
    """Train one phase of a specialist; earlier phases must be finished (it starts from their weights)."""
    check_inputs(config, [specialist_name])
    plans = specialist_plans(config, specialist_name, base_model_dir(config))
    names = [plan.phase for plan in plans]
    if phase_name not in names:
        raise ValueError(f"specialist {specialist_name!r} has no phase {phase_name!r}; phases: {names}")
    index = names.index(phase_name)
    previous = None
    if index > 0:
        done = plans[index - 1].phase_dir / "phase_done.json"
        if not done.is_file():
            raise RuntimeError(
                f"phase {names[index - 1]!r} of {specialist_name!r} is not finished; train it first"
            )
        previous = PhaseResult.model_validate_json(done.read_text(encoding="utf-8"))
    return run_phase(_with_init(plans[index], previous), hooks, resume, progress_wanted(progress))


def train_specialist(
    config: RecipeConfig,
    specialist_name: str,
    hooks: TrainerHooks | None = None,
    resume: bool = True,
    progress: bool | None = None,
) -> TrainResult:
    """Train one specialist phase by phase (the foundation first, for builtin:tiny, unless cached).

    resume=True continues from the newest valid checkpoint of each unfinished phase and skips finished
    ones; resume=False deletes this specialist's phase directories and starts over (the cached
    foundation is kept). A stopped or faulted phase ends the run; a skipped one moves on.
    """
    started = time.perf_counter()
    check_inputs(config, [specialist_name])
    foundation = None
    if config.model.base_model == BUILTIN_TINY and foundation_model_dir(config) is None:
        foundation = train_foundation(config, hooks, resume=True, progress=progress)
        if foundation.status != "completed":
            return _result(
                config, specialist_name, foundation.status, [], foundation, tiny_base_dir(config), started
            )
    base_dir = base_model_dir(config)
    results: list[PhaseResult] = []
    previous: PhaseResult | None = None
    status = "completed"
    for plan in specialist_plans(config, specialist_name, base_dir):
        result = run_phase(_with_init(plan, previous), hooks, resume, progress_wanted(progress))
        results.append(result)
        previous = result
        if result.status in ("stopped", "faulted"):
            status = result.status
            break
        if hooks is not None and hooks.stop_requested:
            status = "stopped"
            break
    return _result(config, specialist_name, status, results, foundation, base_dir, started)


def _result(
    config: RecipeConfig,
    name: str,
    status: str,
    phases: list[PhaseResult],
    foundation: PhaseResult | None,
    base_dir: Path,
    started: float,
) -> TrainResult:
    scored = [
        (phase.best_exact_match, index, phase.best_checkpoint)
        for index, phase in enumerate(phases)
        if phase.best_checkpoint is not None and phase.best_exact_match is not None
    ]
    best = max(scored, key=lambda item: (item[0], item[1])) if scored else None
    final = next((p.final_checkpoint for p in reversed(phases) if p.final_checkpoint), None)
    return TrainResult(
        specialist=name,
        status=status,  # type: ignore[arg-type]
        method=config.model.method,
        base_model_dir=base_dir.resolve(),
        phases=phases,
        foundation=foundation,
        final_checkpoint=final,
        best_checkpoint=best[2] if best else None,
        best_exact_match=best[0] if best else None,
        wall_time_s=time.perf_counter() - started,
    )


def phase_checkpoints(config: RecipeConfig, specialist_name: str, phase_name: str) -> list[Path]:
    """Kept checkpoints of a phase, oldest first (for the supervisor's rollback bookkeeping)."""
    return list_checkpoints(config.run_dir() / specialist_name / phase_name / "checkpoints")
