"""`overnight train` (one specialist, phase by phase, no Ray) and `overnight export` (merge a LoRA)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TRAIN_EPILOG = """\
examples:
  overnight train --specialist ascii                          demo config: LoRA on the shipped base
  overnight train --config configs/demo.yaml --specialist runic --no-resume
  overnight train --config configs/scratch.yaml --specialist ascii        from scratch: foundation first
  overnight train --config configs/scratch.yaml --specialist foundation   only the foundation (builtin:tiny)

Checkpoints go to <run.output_dir>/<run.name>/<specialist>/<phase>/checkpoints/ckpt-*; the builtin
base and the foundation are cached in <run.output_dir>/_builtin/. A rerun resumes each unfinished
phase from its newest valid checkpoint and skips finished ones. Exit code: 0 completed, 1 stopped or
faulted, 2 bad config or input.
"""

EXPORT_EPILOG = """\
examples:
  overnight export --checkpoint checkpoints/demo/ascii/main/checkpoints/ckpt-0004-e3-s120 --out exported/ascii
  overnight export --checkpoint my_adapter/ --base models/Qwen3-1.7B --out exported/merged

The output loads with AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained.
"""


class _StderrLogger:
    """structlog sink that looks sys.stderr up at each call, so a live progress bar can redirect it."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging() -> None:
    import logging

    import structlog

    # bitsandbytes warns on import about an optional CPU kernel that the recipe never uses.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        logger_factory=lambda *args: _StderrLogger(),
    )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = subparsers.add_parser(
        "train",
        help="train one specialist phase by phase (no Ray)",
        description="Train one specialist from a config, phase by phase, in this process (no Ray). For "
        "base_model builtin:tiny the foundation is trained first unless it is cached.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--config",
        type=Path,
        default=Path("configs/demo.yaml"),
        help="run config YAML (default: %(default)s)",
    )
    train.add_argument(
        "--specialist", required=True, help="specialist name from the config's specialists, or 'foundation'"
    )
    train.add_argument(
        "--no-resume",
        action="store_true",
        help="delete this specialist's checkpoints and start over (the cached foundation is kept)",
    )
    train.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="progress bar: auto shows it when stderr is a terminal (default: %(default)s)",
    )
    train.add_argument(
        "--json", action="store_true", help="print the full result as JSON on stdout instead of the summary"
    )
    train.set_defaults(func=run_train)

    export = subparsers.add_parser(
        "export",
        help="save a checkpoint as a standalone Hugging Face model (LoRA merged into its base)",
        description="Export a recipe checkpoint (or a bare adapter or model directory) as a standalone "
        "Hugging Face model. A LoRA adapter is merged into the base recorded in the checkpoint.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument(
        "--checkpoint", type=Path, required=True, help="a ckpt-* directory, or an adapter dir"
    )
    export.add_argument("--out", type=Path, required=True, help="new output directory (must not exist)")
    export.add_argument("--base", type=Path, default=None, help="base model dir, if not the recorded one")
    export.set_defaults(func=run_export)


def _progress_setting(choice: str) -> bool | None:
    return {"auto": None, "on": True, "off": False}[choice]


def run_train(args: argparse.Namespace) -> int:
    # The whole run config is accepted (its watchdog, grader and policy sections are simply unused here).
    from settings.errors import ConfigError
    from settings.recipe import FOUNDATION
    from settings.run import load_run_config
    from training.recipe import train_foundation, train_specialist

    configure_logging()
    try:
        config = load_run_config(args.config)
        if args.specialist == FOUNDATION:
            phase = train_foundation(
                config, resume=not args.no_resume, progress=_progress_setting(args.progress)
            )
            summary: dict[str, Any] = phase.model_dump(mode="json")
            status = phase.status
            text = _describe_phase(summary)
        else:
            result = train_specialist(
                config, args.specialist, resume=not args.no_resume, progress=_progress_setting(args.progress)
            )
            summary = result.model_dump(mode="json")
            status = result.status
            text = _describe_result(summary)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else text)
    return 0 if status == "completed" else 1


def _describe_phase(phase: dict[str, Any]) -> str:
    lines = [f"  phase {phase['specialist']}/{phase['phase']}: {phase['status']} ({phase['reason']})"]
    lines.append(f"    checkpoints: {Path(phase['phase_dir']) / 'checkpoints'}")
    lines.append(f"    final: {phase['final_checkpoint']}")
    lines.append(f"    best:  {phase['best_checkpoint']} (exact match {_pct(phase['best_exact_match'])})")
    last = phase.get("last_eval")
    if last:
        lines.append(
            f"    last eval: val loss {last['val_loss']:.4f}, exact match {_pct(last['exact_match'])}, "
            f"format validity {_pct(last['format_validity'])} on {last['n_graded']} graded"
        )
        for task, score in last["per_task"].items():
            lines.append(
                f"      {task:<14} n={score['n']:<4} exact {_pct(score['exact_match'])}  "
                f"valid {_pct(score['format_validity'])}"
            )
    return "\n".join(lines)


def _describe_result(result: dict[str, Any]) -> str:
    lines = [
        f"specialist {result['specialist']}: {result['status']} in {result['wall_time_s']:.0f}s "
        f"(method {result['method']}, base {result['base_model_dir']})"
    ]
    if result.get("foundation"):
        lines.append(_describe_phase(result["foundation"]))
    lines += [_describe_phase(phase) for phase in result["phases"]]
    lines.append(
        f"  best checkpoint: {result['best_checkpoint']} (exact match {_pct(result['best_exact_match'])})"
    )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def run_export(args: argparse.Namespace) -> int:
    from training.export import ExportError, export_checkpoint

    try:
        path = export_checkpoint(args.checkpoint, args.out, args.base)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"exported {args.checkpoint} -> {path}")
    return 0
