"""A finished phase's PhaseResult, gathered from its counters and its checkpoint directory."""

from __future__ import annotations

from pathlib import Path

from training import checkpoint as ckpt
from training.checkpoint_state import read_state
from training.events import EpochEval, PhaseStatus
from training.phase_data import PhaseData
from training.plan import PhasePlan, TrainState, overlong_summary
from training.results import PhaseResult


def summarise_phase(
    plan: PhasePlan,
    state: TrainState,
    status: PhaseStatus,
    reason: str,
    resumed_from: Path | None,
    skipped_checkpoints: list[str],
    data: PhaseData,
    times: tuple[float, float],
    train_tokens: int,
) -> PhaseResult:
    """`times` is (wall, train) seconds of this call."""
    checkpoint_root = plan.phase_dir / "checkpoints"
    checkpoints = ckpt.list_checkpoints(checkpoint_root)
    best = ckpt.best_checkpoint(checkpoint_root)
    return PhaseResult(
        specialist=plan.specialist,
        phase=plan.phase,
        status=status,
        reason=reason,
        steps=state.step,
        epochs_completed=state.epoch,
        phase_dir=plan.phase_dir,
        final_checkpoint=checkpoints[-1] if checkpoints else None,
        best_checkpoint=best,
        best_exact_match=read_state(best)["exact_match"] if best else None,
        last_eval=EpochEval.model_validate(state.evals[-1]) if state.evals else None,
        evals=[EpochEval.model_validate(item) for item in state.evals],
        step_losses=[float(loss) for _, _, loss in state.step_losses],
        resumed_from=resumed_from,
        skipped_checkpoints=skipped_checkpoints,
        overlong_train=overlong_summary(data.overlong_train),
        overlong_val=overlong_summary(data.overlong_val),
        wall_time_s=times[0],
        train_time_s=times[1],
        train_tokens=train_tokens,
        spike_skipped_steps=int(state.spike_guard.get("skipped", 0)),
    )
