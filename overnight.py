"""Entry point: `python overnight.py` (or the `overnight` console script) dispatches every subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

# Each module adds its own subcommands through `register(subparsers)`; heavy imports (torch, ray) happen
# inside the handlers, so `overnight hlx ...` starts in a fraction of a second.
COMMAND_MODULES: tuple[str, ...] = (
    "cli.run",
    "cli.control",
    "cli.queue",
    "cli.router",
    "cli.train",
    "cli.base",
    "hlx.corpus_cli",
    "hlx.cli",
)

DEFAULT_COMMAND = "run"

FAST_COMMANDS: dict[str, str] = dict.fromkeys(("status", "log", "ctl"), "cli.control")
"""Commands asked for every few seconds: their parser is built from their own module only, so they do not
pay for importing every other command's module (the HLX generator, the router) before answering."""

EPILOG = """\
examples:
  python overnight.py                               run the demo (configs/demo.yaml) end to end
  overnight base build                              rebuild the shipped pretrained base (models/hlx-base)
  python overnight.py --config configs/helix-moe.yaml --run-name night1
  overnight status                                  where every specialist stands
  overnight log --follow                            the supervisor's decision log, live
  overnight run --watch                             after the night, train what lands in the inbox
  overnight submit new.jsonl --specialist ascii     hand new data to a watching run
  overnight ask "Convert to LC-R: {14: {@0: 42}}"   query the trained experts
  overnight hlx convert --to lc-b '[1, 2]'          the HLX toolkit
  overnight corpus validate corpora/                check corpora before training

With no subcommand, `run` is assumed: `python overnight.py --config X` == `overnight run --config X`.
"""


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The CLI, built from every module in `modules` that is present in this checkout (default: all)."""
    parser = argparse.ArgumentParser(
        prog="overnight",
        description="Fine-tune small LLM specialists unattended on Ray, supervised by graders and policies.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # Only a missing command module is tolerated; a missing dependency inside one is a real error.
            if err.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def _with_default_command(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Insert `run` when the first argument is not a known subcommand (`python overnight.py --config X`)."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = set(subparsers.choices)
    if DEFAULT_COMMAND not in known:
        return argv
    if argv and (argv[0] in known or argv[0] in ("-h", "--help")):
        return argv
    return [DEFAULT_COMMAND, *argv]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; returns its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    fast = FAST_COMMANDS.get(arguments[0]) if arguments else None
    parser = build_parser((fast,) if fast else COMMAND_MODULES)
    args = parser.parse_args(_with_default_command(arguments, parser))
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return run_command(args.func, args)
    except BrokenPipeError:
        # `overnight log --json | head`: the reader has seen enough; say nothing more, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run one subcommand. SIGTERM (`kill`, systemd, `ray job stop`) ends it as Ctrl-C does, through the
    command's own interrupt path (a night's state kept, serve's HTTP app removed) rather than mid-write;
    an interrupt no command handles exits 130 with one line, not a traceback."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("\novernight: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
