"""`overnight status`, `overnight ctl` and `overnight log`: read and steer a run, live or from its files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from actors.run_options import add_run_options, chosen_run_dir

CONTROLS = ("pause", "resume", "stop", "skip")


def register(subparsers: argparse._SubParsersAction) -> None:
    status = subparsers.add_parser(
        "status",
        help="where every specialist stands",
        description="A table per specialist: phase, epoch/total, loss, last grade and its source, LR, "
        "micro-batch x accumulation, state and ETA. Read from the live supervisor when a Ray "
        "cluster runs one, otherwise from <output-dir>/<run>/run_state.json.",
    )
    add_run_options(status)
    status.add_argument("--json", action="store_true", help="print the run state as JSON")
    status.set_defaults(func=status_command)

    ctl = subparsers.add_parser(
        "ctl",
        help="pause, resume, stop or skip a specialist of the running night",
        description="pause: save a checkpoint and wait; resume: go on; stop: save and end that specialist; "
        "skip: abandon the current phase and move on. Each control is a decision in the log. "
        "Needs the live supervisor (a running `overnight run`).",
        epilog="example: overnight ctl pause ascii",
    )
    ctl.add_argument("action", choices=CONTROLS, help="what to do")
    ctl.add_argument("specialist", help="which specialist (as named in the config)")
    ctl.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS or the running cluster)")
    ctl.set_defaults(func=ctl_command)

    log_parser = subparsers.add_parser(
        "log",
        help="the supervisor's decision log as a table",
        description="Every decision of the night: time, specialist, phase/epoch, trigger, grade, action, "
        "parameters before -> after, reason and outcome. Read from "
        "<output-dir>/<run>/decisions.jsonl.",
        epilog="examples:\n  overnight log\n  overnight log --specialist ascii --follow\n"
        "  overnight log --json | jq .action",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(log_parser)
    log_parser.add_argument("--specialist", help="only this specialist's decisions")
    log_parser.add_argument("--follow", action="store_true", help="keep printing new decisions (Ctrl-C ends)")
    log_parser.add_argument("--json", action="store_true", help="one JSON object per decision")
    log_parser.set_defaults(func=log_command)


def live_supervisor(address: str | None = None) -> Any | None:
    """The running supervisor's handle, or None when no cluster (or no supervisor) is up."""
    from actors.run_cli import use_token_auth_if_configured

    if address:
        use_token_auth_if_configured()  # before ray is imported: it reads the setting at import
    import ray

    from actors.remote import NAMESPACE, SUPERVISOR_NAME

    if not ray.is_initialized():
        try:
            ray.init(
                address=address or "auto", namespace=NAMESPACE, log_to_driver=False, configure_logging=False
            )
        except (ConnectionError, RuntimeError):
            return None
    try:
        return ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
    except ValueError:
        return None


def status_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from actors.run_cli import recorded_address
    from actors.run_files import RunFileError, read_run_state, resolve_run_dir
    from actors.views import status_table

    state: dict[str, Any] | None = None
    try:
        known_dir: Path | None = resolve_run_dir(Path(args.output_dir), args.run)
    except RunFileError:
        known_dir = None  # no run on disk yet: a live supervisor may still answer
    # Ray is imported by live_supervisor, after it has chosen the token setting the address needs.
    supervisor = live_supervisor(recorded_address(known_dir) if known_dir is not None else None)
    if supervisor is not None:
        import ray

        live = ray.get(supervisor.status.remote())
        if args.run in (None, live["run"]):
            state = live
    if state is None:
        run_dir = chosen_run_dir(args)
        if run_dir is None:
            return 2
        state = read_run_state(run_dir)
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    console = Console()
    console.print(
        f"run [bold]{state['run']}[/bold]: {state['status']}"
        + (" (live)" if supervisor is not None and state.get("run") else "")
    )
    console.print(status_table(state))
    _print_queue(console, state, supervisor is not None, args)
    return 0


def _print_queue(console: Any, state: dict[str, Any], live: bool, args: argparse.Namespace) -> None:
    """The continuous-training jobs under the table, when the run has any (or watches its inbox)."""
    from actors.job_queue import queue_rows
    from actors.views import queue_table

    rows = state.get("queue")
    if rows is None:
        run_dir = chosen_run_dir(args) if not live else None
        try:
            rows = queue_rows(run_dir) if run_dir is not None else []
        except RuntimeError as err:
            console.print(f"[red]queue: {err}[/red]")
            return
    if rows:
        console.print(queue_table(rows))
    elif state.get("watch"):
        console.print("jobs: none waiting; drop JSONL files into the inbox or use `overnight submit`")


def ctl_command(args: argparse.Namespace) -> int:
    import ray

    supervisor = live_supervisor(args.address)
    if supervisor is None:
        print(
            "error: no running supervisor: controls act on a live run (start one with `overnight run`); "
            "`overnight status` shows finished runs",
            file=sys.stderr,
        )
        return 2
    try:
        record = ray.get(supervisor.control.remote(args.specialist, args.action))
    except ray.exceptions.RayTaskError as err:
        print(f"error: {err.cause if hasattr(err, 'cause') else err}", file=sys.stderr)
        return 2
    print(f"{args.action} {args.specialist}: {record['reason']} (decision {record['decision_id']})")
    return 0


def log_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from actors.run_files import read_decisions
    from actors.views import decision_table, follow_log, log_line_text, render_json_lines
    from policies.decision_log import DecisionLogError

    run_dir = chosen_run_dir(args)
    if run_dir is None:
        return 2
    path = run_dir / "decisions.jsonl"
    if args.follow:

        def show(line: dict[str, Any]) -> None:
            if args.specialist and line.get("specialist") not in (None, args.specialist):
                return
            print(json.dumps(line) if args.json else log_line_text(line), flush=True)

        try:
            follow_log(path, show, stop=lambda: False)
        except KeyboardInterrupt:
            return 0
        return 0
    try:
        records = read_decisions(run_dir)
    except DecisionLogError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.specialist:
        records = [r for r in records if r["specialist"] == args.specialist]
    if args.json:
        sys.stdout.write(render_json_lines(records))
        return 0
    console = Console()
    if not records:
        console.print(f"no decisions in {path} yet" + (f" for {args.specialist}" if args.specialist else ""))
        return 0
    console.print(decision_table(records, specialist=args.specialist))
    console.print(f"{len(records)} decisions; {time.strftime('%H:%M:%S')}")
    return 0
