"""Quality of the night (issue 14): four arms graded on the whole val splits, per task family, against the
issue's targets, with each night's wall time and CPU-seconds."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Run as a script, Python puts bench/ first on the path; the packages live at the repo root.
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from bench.machine import machine_info  # noqa: E402
from bench.quality_arms import ARMS, Arm, nights_needed, parse_arms  # noqa: E402
from bench.quality_grading import base_answerers, grade_arm, served_answerers  # noqa: E402
from bench.quality_nights import recorded_night, run_night  # noqa: E402
from bench.quality_table import render  # noqa: E402
from bench.quality_verdicts import all_met, pooled, target_verdicts  # noqa: E402
from fileio.atomic import write_text_atomic  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "quality.json"
DESCRIPTION = """\
Measures how well the night's experts answer, in four arms, each graded on the WHOLE val splits (general,
ascii, runic) by the HLX answer checker: exact match and format validity overall, per task family and per
format, and the validity of the answers in a value format (HLXL, LC-T, LC-R, LC-B).
  base        the demo config's base (builtin:hlx) answers every split; no night
  specialist  the demo night's served experts: its ascii and runic specialists on their splits, the
              coordinator (the base) on general, picked from promoted.json as the router picks them
  grammar     the same weights, value-format answers decoded under their format's grammar
  scratch     the old from-scratch demo (configs/scratch.yaml): its specialists, its foundation as coordinator
Each night runs as a user runs it (`python overnight.py --config X --run-name Y`, a subprocess, on a
private Ray cluster) in a fresh --output-dir, so the scratch foundation is a cold start; its wall time and
the CPU-seconds of its whole process tree are recorded. Issue 14's targets are judged per arm: ascii and
runic exact match >= 80% overall and >= 95% on convert and parse; value-format validity >= 99% (asked
with grammar); coordinator >= 70% on general; the night within 10 minutes. Writes JSON, prints markdown
tables."""
EPILOG = """\
examples:
  python bench/quality.py                                    every arm: two nights, then 2,400 graded answers
  python bench/quality.py --arms base                        the base alone, no night
  python bench/quality.py --skip-nights --output-dir DIR     regrade the nights an earlier run left in DIR"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--arms", default=",".join(ARMS), help="comma-separated subset (default: %(default)s)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("configs/demo.yaml"),
        help="the demo night's config, whose base the base arm grades (default: %(default)s)",
    )
    parser.add_argument(
        "--scratch-config",
        type=Path,
        default=Path("configs/scratch.yaml"),
        help="the from-scratch night's config (default: %(default)s)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where the nights run, as runs 'demo' and 'scratch' (default: a fresh "
        "checkpoints/_bench_quality/<UTC time>)",
    )
    parser.add_argument(
        "--skip-nights",
        action="store_true",
        help="train nothing: grade the runs already in --output-dir, with the wall and CPU "
        "figures measured when the bench ran them",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads for grading (0: torch's default)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (default: %(default)s)")
    args = parser.parse_args(argv)  # fmt: skip
    args.argv = sys.argv[1:] if argv is None else argv
    try:
        args.arm_list = parse_arms(args.arms)
    except ValueError as err:
        parser.error(f"--arms: {err}")
    if args.skip_nights and args.output_dir is None and nights_needed(args.arm_list):
        parser.error("--skip-nights needs --output-dir: the directory an earlier run of the bench trained in")
    return args


def load_configs(args: argparse.Namespace) -> dict[str, Any]:
    """The run configs the arms need, validated as `overnight run` validates them (a missing or corrupt
    shipped base fails here, naming the command that rebuilds it)."""
    from settings.run import load_run_config

    paths = {"demo": args.config, "scratch": args.scratch_config}
    kinds = set(nights_needed(args.arm_list)) | ({"demo"} if ARMS["base"] in args.arm_list else set())
    return {kind: load_run_config(paths[kind]) for kind in sorted(kinds)}


def base_dir_of(config: Any, source: Path) -> Path:
    """The pretrained base the base arm grades; ValueError when the config trains its base from scratch."""
    from settings.model import base_model_path
    from settings.recipe import BUILTIN_TINY

    if config.model.base_model == BUILTIN_TINY:
        raise ValueError(
            f"the base arm grades a pretrained base, and {source} uses {BUILTIN_TINY} (random weights); pass "
            "--config with a pretrained base_model (builtin:hlx), or leave 'base' out of --arms"
        )
    return base_model_path(config.model.base_model)


def grade(arm: Arm, configs: dict[str, Any], nights: dict[str, Any], source: Path) -> dict[str, Any]:
    """One arm's splits, pooled value-format validity and target verdicts."""
    from serving.routing import RouterError

    config = configs[arm.night or "demo"]
    if arm.night is None:
        base = base_dir_of(config, source)
        tokenizer_dir, answerers = base, base_answerers(base)
    else:
        night = nights[arm.night]
        try:
            tokenizer_dir, answerers = served_answerers(Path(night["run_dir"]))
        except RouterError as err:
            if not night["measured"]:
                raise
            raise RouterError(
                f"{err} (the night exited {night['exit_code']}; its log: {night['log']})"
            ) from err
    training = config.training
    splits = grade_arm(tokenizer_dir, answerers, Path(config.run.corpora_dir).expanduser().resolve(),
                       arm.constrained, training.eval_batch_size, training.max_new_tokens)  # fmt: skip
    night = nights[arm.night] if arm.night else None
    targets = target_verdicts(splits, night["wall_s"] if night else None, has_night=arm.night is not None)
    return {
        "title": arm.title, "night": arm.night, "constrained": arm.constrained, "splits": splits,
        "value_formats": pooled(split["value_formats"] for split in splits.values()),
        "targets": targets, "all_met": all_met(targets),
    }  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or reuse) the nights, then grade every arm; the JSON is rewritten after each step."""
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = load_configs(args)
    output_dir = (args.output_dir or REPO_ROOT / "checkpoints" / "_bench_quality"
                  / time.strftime("%Y%m%d-%H%M%S", time.gmtime())).resolve()  # fmt: skip
    config_paths = {"demo": args.config.resolve(), "scratch": args.scratch_config.resolve()}
    result: dict[str, Any] = {
        "measures": DESCRIPTION.split("\n")[0] + " ...; see `python bench/quality.py --help`",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "argv": args.argv, "output_dir": str(output_dir),
        "configs": {kind: str(config_paths[kind]) for kind in configs}, "nights": {}, "arms": {},
        "machine": machine_info(),
    }  # fmt: skip
    for kind in nights_needed(args.arm_list):
        doing = "reusing" if args.skip_nights else "running"
        print(f"quality: {doing} night {kind!r} ({config_paths[kind]}) in {output_dir / kind}", flush=True)
        night = recorded_night if args.skip_nights else run_night
        result["nights"][kind] = night(kind, config_paths[kind], output_dir)
        write_text_atomic(args.out, json.dumps(result, indent=2))
    for arm in args.arm_list:
        print(f"quality: grading arm {arm.name!r}: {arm.title}", flush=True)
        result["arms"][arm.name] = grade(arm, configs, result["nights"], args.config)
        write_text_atomic(args.out, json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from serving.routing import RouterError
    from settings.errors import ConfigError

    try:
        result = run(args)
    except (ConfigError, RouterError, ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(render(result))
    failed = [kind for kind, night in result["nights"].items() if night.get("exit_code") not in (0, None)]
    for kind in failed:
        print(f"warning: night {kind!r} exited {result['nights'][kind]['exit_code']}; see its log "
              f"{result['nights'][kind]['log']}")  # fmt: skip
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
