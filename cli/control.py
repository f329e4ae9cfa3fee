"""`overnight status`, `overnight ctl` and `overnight log`: read and steer a run through its files.

They answer from the run directory without importing Ray (no cluster connection, no job on the dashboard);
`status --live` asks the live supervisor actor instead. `ctl` writes a request file that the run's
supervisor applies within a fraction of a second (control/control_file.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from cli.run_options import add_run_options, chosen_run_dir, read_chosen_run
from control.control_file import CONTROLS, STOP_RUN

CTL_WAIT_S = 10.0

CTL_EPILOG = """\
examples:
  overnight ctl pause ascii --run night1
  overnight ctl resume ascii
  overnight ctl stop-run --run night1     end a run (also one watching its inbox on a shared cluster)

Ctrl-C in `overnight run` on a shared cluster ends only the driver: the detached supervisor keeps
training (or watching the inbox). `overnight ctl stop-run --run NAME` ends it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    status = subparsers.add_parser(
        "status",
        help="where every specialist stands",
        description="A table per specialist: phase, epoch/total (counted from 1), step, loss, last grade and "
        "its source, LR, micro-batch x accumulation, state and ETA, read from "
        "<output-dir>/<run>/run_state.json. A running run whose supervisor has stopped stamping its "
        "heartbeat is shown as stale. Piped, the table is plain text, one line per specialist.",
    )
    add_run_options(status)
    status.add_argument("--json", action="store_true", help="print the run state as JSON")
    status.add_argument(
        "--live", action="store_true", help="ask the live supervisor actor through Ray (slower) instead"
    )
    status.add_argument("--address", help="with --live: Ray cluster address (default: the run's own)")
    status.set_defaults(func=status_command)

    ctl = subparsers.add_parser(
        "ctl",
        help="pause, resume, stop or skip a specialist, or stop a whole run",
        description="pause: save a checkpoint and wait; resume: go on; stop: save and end that specialist; "
        "skip: abandon the current phase and move on; stop-run: stop every specialist still going "
        "and stop watching the inbox. The request is written to <run>/control/ and applied by the "
        "run's supervisor within a second; each control is a decision in the log.",
        epilog=CTL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ctl.add_argument("action", choices=CONTROLS, help="what to do")
    ctl.add_argument("specialist", nargs="?", help="which specialist (as in the config); not for stop-run")
    add_run_options(ctl, default_help="the one live run; required when several are live")
    ctl.add_argument(
        "--wait", type=float, default=CTL_WAIT_S, help="seconds to wait for the answer (default: %(default)s)"
    )
    ctl.set_defaults(func=ctl_command)

    log_parser = subparsers.add_parser(
        "log",
        help="the supervisor's decision log as a table",
        description="Every decision of the night: time, specialist, phase/epoch (counted from 1), trigger, "
        "grade, action, parameters before -> after, reason and outcome. Read from "
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


# ------------------------------------------------------------------------------------------------ status


def status_command(args: argparse.Namespace) -> int:
    from control.control_file import staleness, supervisor_seen_at
    from control.run_files import RunFileError, read_run_state

    if args.live:
        return live_status_command(args)
    found = read_chosen_run(args, read_run_state, (RunFileError,))
    if found is None:
        return 2
    run_dir, state = found
    stale = staleness(str(state.get("status")), supervisor_seen_at(run_dir, state), time.time())
    if args.json:
        print(json.dumps({**state, "stale": stale}, indent=2))
        return 0
    resume = "its actors are gone; rerun `overnight run` with this run's name to resume"
    note = f" ({stale}: {resume})" if stale else ""
    show_status(state, note, run_dir)
    return 0


def show_status(state: dict[str, Any], note: str, run_dir: Path | None) -> None:
    """The header, the status table (a rich table on a terminal, plain lines in a pipe) and the job queue."""
    from rich.console import Console

    from report.status_text import status_text
    from report.views import status_table

    console = Console()
    print(f"run {state['run']}: {state['status']}{note}", flush=True)
    if console.is_terminal:
        console.print(status_table(state))
    else:
        sys.stdout.write(status_text(state))
    _print_queue(state, run_dir, console.is_terminal)


def _print_queue(state: dict[str, Any], run_dir: Path | None, terminal: bool) -> None:
    """The continuous-training jobs under the table, when the run has any (or watches its inbox)."""
    from rich.console import Console

    from report.views import queue_table

    # A pipe gets the table at its natural width: wrapped at 80 columns it could not be read line by line.
    console = Console() if terminal else Console(width=1000, no_color=True)
    rows = state.get("queue")
    if rows is None and (run_dir is None or not (run_dir / "queue.json").is_file()):
        rows = []  # no jobs ever: no need to load the queue's models
    if rows is None:
        from control.job_queue import queue_rows

        try:
            rows = queue_rows(run_dir) if run_dir is not None else []
        except RuntimeError as err:
            console.print(f"queue: {err}", markup=False)
            return
    if rows:
        console.print(queue_table(rows))
    elif state.get("watch"):
        print("jobs: none waiting; drop JSONL files into the inbox or use `overnight submit`")


def live_supervisor(address: str | None = None) -> Any | None:
    """The running supervisor's handle, or None when no cluster (or no supervisor) is up."""
    from actors.connect import connect_existing_ray
    from actors.names import NAMESPACE, SUPERVISOR_NAME

    if not connect_existing_ray(address):
        return None
    import ray

    try:
        return ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
    except ValueError:
        return None


def live_status_command(args: argparse.Namespace) -> int:
    """`status --live`: the supervisor actor's own snapshot, through Ray."""
    from actors.connect import recorded_address
    from control.run_files import RunFileError, resolve_run_dir

    try:
        known_dir: Path | None = resolve_run_dir(Path(args.output_dir), args.run)
    except RunFileError:
        known_dir = None  # no run on disk yet: a live supervisor may still answer
    address = args.address or (recorded_address(known_dir) if known_dir is not None else None)
    supervisor = live_supervisor(address)
    if supervisor is None:
        print("error: no live supervisor answered; `overnight status` (without --live) reads the run's files",
              file=sys.stderr)  # fmt: skip
        return 2
    import ray

    state = ray.get(supervisor.status.remote())
    wanted = known_dir.name if known_dir is not None else args.run
    if args.run is not None and state["run"] != wanted:
        print(f"error: the cluster's supervisor runs {state['run']!r}, not {wanted!r}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    show_status(state, " (live)", None)
    return 0


# ------------------------------------------------------------------------------------------------ ctl


def ctl_command(args: argparse.Namespace) -> int:
    from control.control_file import ControlRequest, live_run, write_request

    if (args.specialist is None) != (args.action == STOP_RUN):
        need = "takes no specialist" if args.action == STOP_RUN else "needs a SPECIALIST"
        print(f"error: `overnight ctl {args.action}` {need}", file=sys.stderr)
        return 2
    found = live_run(Path(args.output_dir), args.run)
    if isinstance(found, str):
        print(f"error: {found}", file=sys.stderr)
        return 2
    run_dir, state = found
    if args.specialist is not None and args.specialist not in state.get("specialists", {}):
        known = ", ".join(state.get("specialists", {})) or "none"
        print(f"error: no specialist {args.specialist!r} in run {state['run']!r}; known: {known}",
              file=sys.stderr)  # fmt: skip
        return 2
    request = ControlRequest.new(args.action, args.specialist)
    path = write_request(run_dir, request)
    return _report_answer(run_dir, request, path, args.wait)


def _report_answer(run_dir: Path, request: Any, path: Path, wait_s: float) -> int:
    from control.control_file import wait_for_result

    result = wait_for_result(run_dir, request.id, wait_s)
    target = request.specialist or f"run {run_dir.name}"
    if result is None:
        print(
            f"ctl: the supervisor has not answered within {wait_s:g} s; the request waits in {path} and is "
            "applied when it does (`overnight log` shows the decision)",
            file=sys.stderr,
        )
        return 1
    if not result.get("ok"):
        print(f"error: {request.action} {target}: {result.get('error')}", file=sys.stderr)
        return 2
    print(f"{request.action} {target}: {result.get('reason')} (decision {result.get('decision_id')})")
    if request.action == STOP_RUN:
        print("ctl: the run finishes (and writes its report) once its trainers have ended; "
              "`overnight status` shows it")  # fmt: skip
    return 0


# ------------------------------------------------------------------------------------------------ log


def log_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from control.run_files import read_decisions
    from policies.decision_log import DecisionLogError
    from report.views import decision_table, follow_log, log_line_text, render_json_lines

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
