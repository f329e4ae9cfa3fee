"""What a run serves: its promoted experts, read and checked (promoted.json, weights), no model loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from control.run_files import PROMOTED_FILE, RUN_CONFIG_FILE, RunFileError, read_promoted, resolve_run_dir
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


def servable_run(output_dir: str | Path, run: str | None) -> Path:
    """The run directory to serve (`run` under `output_dir`, or the latest run), checked without loading a
    model; raises RouterError saying what to do. Nothing outside `output_dir` is looked at or served."""
    root = Path(output_dir).expanduser()
    outside = RouterError(
        f"--run {run!r} is outside --output-dir {output_dir}: name a run in it, or pass the --output-dir "
        "that holds the run"
    )
    # `--run ../../etc` or `--run /etc`: refused before anything there is read.
    if run is not None and not (root / run).resolve().is_relative_to(root.resolve()):
        raise outside
    try:
        run_dir = resolve_run_dir(root, run)
    except RunFileError as err:
        raise RouterError(str(err)) from err
    if not run_dir.resolve().is_relative_to(root.resolve()):
        raise outside
    served_table(run_dir)
    return run_dir.resolve()


def run_settings(run_dir: Path) -> tuple[dict[str, Any], float]:
    """(RouterSettings fields, router GPUs) from the run's config.yaml, validated as a run config without
    this machine's checks: its `router` section (the default answer length is training.max_new_tokens
    unless set) and resources.router_num_gpus. No config.yaml gives the defaults; an invalid one raises
    RouterError listing every problem."""
    from settings.errors import ConfigError
    from settings.run import load_run_config

    path = run_dir / RUN_CONFIG_FILE
    if not path.is_file():
        return {}, 0.0
    try:
        config = load_run_config(path, machine_checks=False)
    except ConfigError as err:
        raise RouterError(str(err)) from err
    return config.router_settings(), config.resources.router_num_gpus
