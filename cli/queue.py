"""`overnight submit` and `overnight queue`: hand new data to a watching run, and see or reorder its jobs.

Both work on the run's files (the inbox and queue.json, under the queue's lock), so they need no Ray
connection: a watching supervisor picks the change up at its next tick.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.run_options import add_run_options, chosen_run_dir
from control.job_queue import PRIORITIES

SUBMIT_EPILOG = """\
examples:
  overnight submit fixes.jsonl --specialist ascii
  overnight submit urgent.jsonl --specialist runic --priority high --epochs 4 --run night1

The file is validated here first (nothing is copied when it has problems), then copied into
<inbox>/<priority>/ with a sidecar naming the specialist: exactly what dropping it there by hand does.
A watching run (`overnight run --watch`) takes it in within seconds; `overnight queue list` shows it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    submit = subparsers.add_parser(
        "submit",
        help="hand a JSONL file to a watching run's inbox",
        description="Validate FILE and drop it into the run's inbox for SPECIALIST; a run started with "
        "`overnight run --watch` trains it after the night's plan, by priority.",
        epilog=SUBMIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument("file", help="a JSONL corpus file (either record shape; see `overnight corpus`)")
    submit.add_argument("--specialist", required=True, help="which specialist continues on it")
    submit.add_argument("--priority", choices=PRIORITIES, default="normal", help="(default: %(default)s)")
    submit.add_argument("--epochs", type=int, help="epochs to train (default: the config's inbox.epochs)")
    add_run_options(submit)
    submit.set_defaults(func=submit_command)

    queue = subparsers.add_parser(
        "queue",
        help="list, reprioritise or remove continuous-training jobs",
        description="The jobs of a watching run, in the order they run (high, then normal, then low; a "
        "preempted job first within its priority).",
        epilog="examples:\n  overnight queue list\n  overnight queue set-priority job-0003 high\n"
        "  overnight queue remove job-0004",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = queue.add_subparsers(dest="queue_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="waiting and running jobs (--all: finished ones too)")
    listing.add_argument("--all", action="store_true", help="include completed, failed and removed jobs")
    listing.add_argument("--json", action="store_true", help="one JSON object per job")
    add_run_options(listing)
    listing.set_defaults(func=list_command)
    priority = actions.add_parser("set-priority", help="move a waiting or running job to another priority")
    priority.add_argument("job", help="job id, e.g. job-0003")
    priority.add_argument("priority", choices=PRIORITIES)
    add_run_options(priority)
    priority.set_defaults(func=set_priority_command)
    remove = actions.add_parser(
        "remove", help="drop a job: a waiting one at once, a running one at its next step boundary"
    )
    remove.add_argument("job", help="job id, e.g. job-0003")
    add_run_options(remove)
    remove.set_defaults(func=remove_command)


def _run_config(run_dir: Path) -> Any:
    from control.run_files import RUN_CONFIG_FILE
    from settings.run import load_run_config

    # The run's own copy, as it was validated at the run's start; this machine's model and CUDA checks do
    # not matter for a submission (only the specialists and the inbox section are read).
    return load_run_config(run_dir / RUN_CONFIG_FILE, machine_checks=False)


def submit_command(args: argparse.Namespace) -> int:
    from control.inbox import submit_file
    from hlx.corpus_validate import validate_paths
    from settings.errors import ConfigError

    source = Path(args.file)
    if not source.is_file():
        print(f"error: {source}: no such file; name a JSONL corpus file", file=sys.stderr)
        return 2
    if args.epochs is not None and args.epochs < 1:
        print(f"error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return 2
    run_dir = chosen_run_dir(args)
    if run_dir is None:
        return 2
    try:
        config = _run_config(run_dir)
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: cannot read the run's config {run_dir / 'config.yaml'}: {err}", file=sys.stderr)
        return 2
    if args.specialist not in config.specialists:
        known = ", ".join(config.specialists)
        message = f"error: no specialist {args.specialist!r} in run {run_dir.name}; known: {known}"
        print(message, file=sys.stderr)
        return 2
    blocking = validate_paths([source]).blocking
    if blocking:
        print(f"error: {source} has {len(blocking)} problem(s); nothing was submitted:", file=sys.stderr)
        for problem in blocking[:20]:
            print(f"  {problem}", file=sys.stderr)
        if len(blocking) > 20:
            more = len(blocking) - 20
            print(f"  ... and {more} more (`overnight corpus validate {source}`)", file=sys.stderr)
        return 2
    _warn_if_accepted_before(source, run_dir)
    meta: dict[str, Any] = {"specialist": args.specialist}
    if args.epochs is not None:
        meta["epochs"] = args.epochs
    target = submit_file(source, config.inbox.root(run_dir) / args.priority, meta)
    epochs = args.epochs or config.inbox.epochs
    print(f"submitted {source} -> {target} ({args.specialist}, {args.priority}, {epochs} epochs)")
    print(_watch_hint(run_dir))
    return 0


def _warn_if_accepted_before(source: Path, run_dir: Path) -> None:
    """Warn (stderr) when a job already holds this content: the inbox will skip the file as a duplicate."""
    from control.inbox import accepted_before, duplicate_reason, file_digest
    from control.job_queue import read_queue

    digest = file_digest(source)
    try:
        earlier = accepted_before(read_queue(run_dir), digest)
    except RuntimeError as err:
        print(f"warning: cannot check {source} for duplicates: {err}", file=sys.stderr)
        return
    if earlier is not None:
        print(
            f"warning: {source} has the {duplicate_reason(digest, earlier)}; the inbox will skip it (a "
            f"skip_duplicate decision in the log). To train it again, `overnight queue remove {earlier.id}` "
            "first, or change the data.",
            file=sys.stderr,
        )


def _watch_hint(run_dir: Path) -> str:
    from control.run_files import RunFileError, read_run_state

    try:
        state = read_run_state(run_dir)
    except RunFileError:
        state = {}  # no run state yet (or a damaged one): the run is not watching
    if state.get("watch") and state.get("status") == "running":
        return "the watching supervisor takes it in within seconds; follow it with `overnight queue list`"
    return (
        f"run {run_dir.name} is not watching its inbox: `overnight run --watch --run-name {run_dir.name}` "
        "(same config) trains it"
    )


def list_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from control.job_queue import job_row, read_queue, run_order
    from report.views import queue_table

    run_dir = chosen_run_dir(args)
    if run_dir is None:
        return 2
    try:
        queue = read_queue(run_dir)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    jobs = sorted(queue.jobs, key=lambda job: job.submitted_at) if args.all else queue.active()
    if not args.all:
        jobs = sorted(jobs, key=run_order)
    rows = [job_row(job) for job in jobs]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    console = Console()
    if not rows:
        console.print(f"no {'' if args.all else 'waiting or running '}jobs in run {run_dir.name}")
        return 0
    console.print(queue_table(rows))
    return 0


def set_priority_command(args: argparse.Namespace) -> int:
    from control.job_queue import locked_queue

    run_dir = chosen_run_dir(args)
    if run_dir is None:
        return 2
    try:
        with locked_queue(run_dir) as queue:
            job = queue.set_priority(args.job, args.priority)
    except (KeyError, ValueError, RuntimeError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    print(f"{job.id} ({job.source}) is now {job.priority}")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    from control.inbox import remove_job

    run_dir = chosen_run_dir(args)
    if run_dir is None:
        return 2
    try:
        config = _run_config(run_dir)
        job, running = remove_job(run_dir, args.job, config.inbox.root(run_dir))
    except (KeyError, ValueError, RuntimeError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    if running:
        print(f"{job.id} is running: the supervisor stops it at its next step boundary (file -> failed/)")
    else:
        print(f"{job.id} removed; {job.source} moved to {job.file}")
    return 0
