"""`overnight base build`: train the shipped pretrained base (builtin:hlx) from generated HLX data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BASE_EPILOG = """\
examples:
  overnight base build                          the shipped base, as committed (about 40 minutes on one core)
  overnight base build --out /tmp/hlx-base      the same build elsewhere, to compare with the shipped one
  overnight base build --size 2000 --epochs 1 --out /tmp/small   a quick look at the pipeline

The build generates --size train records per corpus with `overnight corpus generate` at --data-seed,
drops every instruction of the shipped val splits (the nights are graded on them), trains a random
Qwen3 of the base's shape on all three corpora with the foundation recipe (checkpoints and a resumable
run under --work), grades every val example per task family (free and under the grammar), and writes
the weights, base.json (the weights' sha256, checked at config load) and a model card README.md to --out.
Rerunning after an interruption resumes the training from its newest checkpoint.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    base = subparsers.add_parser(
        "base",
        help="build the shipped pretrained base (builtin:hlx)",
        description="The pretrained built-in base that nights tune their specialists on.",
    )
    actions = base.add_subparsers(dest="base_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="generate data, train, grade and publish the base",
        description="Build builtin:hlx (models/hlx-base) from generated, verified HLX data, seeded.",
        epilog=BASE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from training.base_spec import DEFAULT_BUILD

    build.add_argument("--size", type=int, default=DEFAULT_BUILD.size, help="train records per corpus "
                       "(default: %(default)s)")  # fmt: skip
    build.add_argument("--epochs", type=int, default=DEFAULT_BUILD.epochs, help="default: %(default)s")
    build.add_argument("--data-seed", type=int, default=DEFAULT_BUILD.data_seed, help="generator seed "
                       "(default: %(default)s)")  # fmt: skip
    build.add_argument(
        "--seed", type=int, default=DEFAULT_BUILD.seed, help="training seed (default: %(default)s)"
    )
    build.add_argument("--threads", type=int, default=DEFAULT_BUILD.threads,
                       help="torch threads; 0 = torch's default (default: %(default)s)")  # fmt: skip
    build.add_argument(
        "--corpora",
        type=Path,
        default=Path("corpora"),
        help="shipped corpora: their val splits are held out and graded (default: %(default)s)",
    )
    build.add_argument("--work", type=Path, default=Path("checkpoints/_base_build"), help="data and "
                       "checkpoints of the build (default: %(default)s)")  # fmt: skip
    build.add_argument("--out", type=Path, default=None, help="where to publish (default: models/hlx-base)")
    build.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    import dataclasses

    from hlx.corpus_io import CorpusError
    from settings.errors import ConfigError
    from settings.model import SHIPPED_BASE_DIR
    from training.base_build import build_base
    from training.base_spec import DEFAULT_BUILD

    bad = [
        f"{flag} must be >= {least}, got {value}"
        for flag, value, least in (
            ("--size", args.size, 1),
            ("--epochs", args.epochs, 1),
            ("--threads", args.threads, 0),
        )
        if value < least
    ]
    if bad:
        print(f"overnight base build: {'; '.join(bad)}", file=sys.stderr)
        return 2
    build = dataclasses.replace(
        DEFAULT_BUILD, size=args.size, epochs=args.epochs, data_seed=args.data_seed, seed=args.seed,
        threads=args.threads,
    )  # fmt: skip
    try:
        out = build_base(build, args.corpora, args.work, args.out or SHIPPED_BASE_DIR)
    except (CorpusError, ConfigError, FileNotFoundError) as error:
        print(f"overnight base build: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # the training stopped (see its log); rerunning resumes it
        print(f"overnight base build: {error}; rerun the same command to resume", file=sys.stderr)
        return 1
    print(f"base published to {out} (model card: {out / 'README.md'})")
    return 0
