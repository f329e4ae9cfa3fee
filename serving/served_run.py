"""What a run serves: its promoted experts, read and checked (promoted.json, weights), no model loaded."""

from __future__ import annotations

from pathlib import Path

from control.run_files import PROMOTED_FILE, RunFileError, read_promoted
from serving.routing import (
    ExpertSpec,
    ExpertTable,
    PromotionError,
    RouterError,
    expert_table,
    weights_problem,
)


def served_table(run_dir: Path, check_weights: bool = True) -> ExpertTable:
    """The run's experts from promoted.json; RouterError naming the file (or the weights directory, when
    `check_weights`) and what to do when they cannot be served."""
    path = run_dir / PROMOTED_FILE
    try:
        promoted = read_promoted(run_dir)
    except RunFileError as err:
        raise RouterError(str(err)) from err
    if promoted is None:
        raise RouterError(
            f"{path} does not exist: nothing has been promoted in run {run_dir.name!r} yet (it is still "
            "training, or no specialist finished a phase); check `overnight status`, or pick a finished run "
            "with --run"
        )
    try:
        table = expert_table(promoted, str(path))
    except PromotionError as err:
        raise RouterError(f"{err}; rerun `overnight run` with the same --run-name to rewrite it") from err
    for spec in [table.coordinator, *table.specialists.values()] if check_weights else []:
        require_weights(spec)
    return table


def require_weights(spec: ExpertSpec) -> None:
    """RouterError naming the path and what to do when `spec`'s weights directory cannot be served."""
    problem = weights_problem(spec)
    if problem is not None:
        raise RouterError(problem)
