"""A continuous-training job: continue a promoted specialist on new data, then score it on its standing val.

The job is one more phase of the specialist (`<run dir>/<specialist>/<job id>/`), so it checkpoints,
resumes, reports faults and is graded like any phase. Its regression check compares the promoted
checkpoint and the job's best checkpoint on the same standing val subset, in the same process.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import torch
from pydantic import BaseModel, ConfigDict

from fileio.atomic import write_json_atomic
from settings.recipe import FaultInjection, RecipeConfig
from training.checkpoint_state import read_state
from training.data import load_split
from training.evaluate import evaluate
from training.events import Heartbeat
from training.hooks import TrainerHooks
from training.loop import PhasePlan, run_phase
from training.model import (
    compute_dtype,
    load_for_training,
    load_tokenizer,
    load_weights_into,
    pick_device,
    release_memory,
)
from training.progress import progress_wanted
from training.recipe import base_model_dir, check_inputs
from training.results import PhaseResult

BASELINE_FILE = "baseline.json"
log = structlog.get_logger(__name__)


class JobSpec(BaseModel):
    """What the supervisor hands a trainer: which data, how long, and which checkpoint to continue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    specialist: str
    epochs: int
    corpus_dir: Path
    init_checkpoint: Path
    """The promoted checkpoint the job continues from."""
    base_dir: Path | None = None
    """The base that checkpoint was trained on; None: the config's base (the foundation, for builtin:tiny).
    A run whose config changed since its night (a new foundation) still continues the promoted weights."""
    seed: int = 0


class JobOutcome(BaseModel):
    """The job's phase result, and both sides of its regression check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: PhaseResult
    checkpoint: Path | None
    baseline_exact_match: float | None
    exact_match: float | None
    standing_val: Path


def job_plan(config: RecipeConfig, spec: JobSpec, base_dir: Path) -> PhasePlan:
    """The job as a phase: the specialist's last phase's settings, starting from the promoted weights."""
    specialist = config.specialists[spec.specialist]
    init = spec.init_checkpoint / read_state(spec.init_checkpoint)["weights"]
    return PhasePlan(
        specialist=spec.specialist,
        phase=spec.id,
        corpus_dir=spec.corpus_dir,
        epochs=spec.epochs,
        settings=config.settings_for(specialist.phases[-1]),
        faults=specialist.faults.get(spec.id, FaultInjection()),
        method=config.model.method,
        model=config.model,
        base_dir=base_dir,
        init_weights=init,
        phase_dir=config.run_dir() / spec.specialist / spec.id,
        seed=spec.seed,
    )


def standing_val_dir(config: RecipeConfig, specialist: str) -> Path:
    """The val split a specialist is always measured on: its configured corpus's."""
    return config.corpus_dir(config.specialists[specialist].corpus)


def train_job(
    config: RecipeConfig, spec: JobSpec, hooks: TrainerHooks | None = None, progress: bool | None = None
) -> JobOutcome:
    """Run (or resume) the job, then score the promoted and the new checkpoint on the standing val set."""
    check_inputs(config, [spec.specialist])
    if not (spec.init_checkpoint / "state.json").is_file():
        raise FileNotFoundError(
            f"{spec.specialist} has no usable promoted checkpoint at {spec.init_checkpoint}; train the "
            "specialist first (its night's plan) so that a job has something to continue"
        )
    base_dir = spec.base_dir if spec.base_dir is not None else base_model_dir(config)
    if not (base_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"the base model {base_dir} of {spec.specialist}'s promoted checkpoint is gone; a job continues "
            "the promoted weights on their own base, so restore that directory or retrain the specialist"
        )
    plan = job_plan(config, spec, base_dir)
    standing = standing_val_dir(config, spec.specialist)
    plan.phase_dir.mkdir(parents=True, exist_ok=True)
    beat = _heartbeat(hooks, plan)
    baseline = _cached_baseline(config, plan, standing, beat)
    result = run_phase(plan, hooks, resume=True, show_progress=progress_wanted(progress))
    checkpoint = result.best_checkpoint or result.final_checkpoint
    exact = None
    if result.status == "completed" and checkpoint is not None:
        weights = checkpoint / read_state(checkpoint)["weights"]
        exact = standing_exact_match(config, plan, weights, standing, beat)
    log.info("job scored", job=spec.id, baseline=baseline, exact_match=exact, status=result.status)
    return JobOutcome(
        phase=result,
        checkpoint=checkpoint,
        baseline_exact_match=baseline,
        exact_match=exact,
        standing_val=standing / "val.jsonl",
    )


def _cached_baseline(
    config: RecipeConfig, plan: PhasePlan, standing: Path, beat: Callable[[], None]
) -> float | None:
    """The promoted checkpoint's score, measured once per job (a resumed or preempted job reuses it)."""
    path = plan.phase_dir / BASELINE_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))["exact_match"]
    assert plan.init_weights is not None
    score = standing_exact_match(config, plan, plan.init_weights, standing, beat)
    write_json_atomic(path, {"weights": str(plan.init_weights), "exact_match": score})
    return score


def standing_exact_match(
    config: RecipeConfig, plan: PhasePlan, weights: Path, standing: Path, beat: Callable[[], None]
) -> float | None:
    """Exact match of `weights` on the standing val subset (the same subset every time)."""
    settings = plan.settings
    device = pick_device()
    dtype = compute_dtype(config.model.dtype, device)
    tokenizer = load_tokenizer(plan.base_dir)
    start = weights if plan.method == "full" else plan.base_dir
    model = load_for_training(start, config.model, plan.method, device, plan.seed)
    if plan.method != "full":
        load_weights_into(model, weights)
    examples, encoded, _ = load_split(
        standing / "val.jsonl", tokenizer, settings.max_length, settings.overlong
    )
    try:
        result = evaluate(
            model, tokenizer, examples, encoded, settings.eval_subset, settings.eval_batch_size,
            settings.max_new_tokens, device, lambda: _autocast(device, dtype), beat,
            constrained=settings.constrained_decoding,
        )  # fmt: skip
    finally:
        del model
        release_memory()
    return result.exact_match


def _autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _heartbeat(hooks: TrainerHooks | None, plan: PhasePlan) -> Callable[[], None]:
    """Heartbeats while scoring, so the supervisor does not take a long evaluation for a stall."""
    last = [0.0]

    def beat() -> None:
        now = time.monotonic()
        if hooks is not None and now - last[0] >= plan.settings.heartbeat_interval_s:
            last[0] = now
            hooks.on_event(
                Heartbeat(specialist=plan.specialist, phase=plan.phase, epoch=0, step=0, stage="eval")
            )

    return beat
