"""Write and read one phase's checkpoint: weights, optimizer, scaler, schedule, RNG and counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from training import checkpoint as ckpt
from training.checkpoint_state import read_state
from training.model import load_weights_into, save_weights, weights_subdir
from training.plan import PhasePlan, TrainState
from training.schedule import LRSchedule


def write_phase_checkpoint(
    plan: PhasePlan,
    state: TrainState,
    schedule: LRSchedule,
    total_examples: int,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    reason: str,
) -> tuple[Path, list[Path], float | None]:
    """Save atomically, then apply retention. Returns the path, the checkpoints removed, and the val
    exact match of these exact weights (None when they were not just evaluated)."""
    root = plan.phase_dir / "checkpoints"
    last_eval = state.evals[-1] if state.evals else None
    evaluated_here = last_eval is not None and last_eval["step"] == state.step and state.cursor == 0
    # Only an evaluation of exactly these weights may rank this checkpoint as "best".
    exact_match = last_eval["exact_match"] if evaluated_here and last_eval else None
    payload: dict[str, Any] = {
        **state.to_payload(),
        "specialist": plan.specialist,
        "phase": plan.phase,
        "reason": reason,
        "method": plan.method,
        "base_dir": str(plan.base_dir.resolve()),
        "weights": weights_subdir(plan.method),
        "lr": schedule.lr_at(state.examples_seen / total_examples),
        "schedule": schedule.state_dict(),
        "exact_match": exact_match,
        "val_loss": last_eval["val_loss"] if evaluated_here and last_eval else None,
    }
    trainer_state: dict[str, Any] = {"optimizer": optimizer.state_dict(), "rng": ckpt.capture_rng()}
    if scaler is not None:
        trainer_state["scaler"] = scaler.state_dict()
    weights_dir = weights_subdir(plan.method)
    path = ckpt.save_checkpoint(
        root,
        state.epoch,
        state.step,
        lambda directory: save_weights(model, tokenizer, directory / weights_dir),
        trainer_state,
        payload,
    )
    removed = ckpt.apply_retention(root, plan.settings.keep_last)
    return path, removed, exact_match


def read_phase_checkpoint(
    directory: Path,
    model: PreTrainedModel,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    device: torch.device,
) -> tuple[TrainState, LRSchedule]:
    """Load weights, optimizer and scaler in place, restore the RNG streams, and return the counters
    and schedule. The checkpoint must already have passed verify_checkpoint."""
    saved = read_state(directory)
    load_weights_into(model, directory / saved["weights"])
    trainer_state = ckpt.read_trainer_state(directory, device)
    optimizer.load_state_dict(trainer_state["optimizer"])
    if scaler is not None and "scaler" in trainer_state:
        scaler.load_state_dict(trainer_state["scaler"])
    ckpt.restore_rng(trainer_state["rng"])
    return TrainState.from_payload(saved), LRSchedule.from_state(saved["schedule"])
