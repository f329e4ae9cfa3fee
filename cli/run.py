"""`overnight run`: validate everything, connect to Ray, start the supervisor and watch the night go by."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from control.run_files import PROMOTED_FILE, base_model_change, keep_config_copy

RUN_EPILOG = """\
examples:
  python overnight.py                                    the demo (configs/demo.yaml), on a local Ray
  overnight run --config configs/helix-moe.yaml --run-name night1
  RAY_AUTH_MODE=token ray job submit --working-dir . -- python overnight.py --output-dir $PWD/checkpoints
  overnight run --watch                                  after the plan, train what lands in the inbox

Rerunning with the same --run-name resumes: finished phases are not retrained.
Output: <output-dir>/<run-name>/ holds decisions.jsonl, run_state.json, events/, checkpoints and the report.
--watch: the inbox is <output-dir>/<run-name>/inbox/ (config inbox.dir); drop JSONL files into its high/,
normal/ or low/ folder or use `overnight submit`; `overnight queue list` shows the jobs. Ctrl-C stops
watching on a private cluster; on a shared one it ends only this driver and the detached supervisor keeps
watching: `overnight ctl stop-run --run NAME` ends it. Rerunning resumes the queue.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train every specialist under supervision (the default command)",
        description="Validate the config, corpora and base model, then run the night on Ray: the foundation "
        "(built-in model only), then the specialists, graded by watchdogs and steered by the "
        "supervisor's policies. Ends with the morning report and the promoted adapters.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", default="configs/demo.yaml", help="run config YAML (default: %(default)s)"
    )
    parser.add_argument(
        "--run-name", help="name of the run (default: run.name from the config); reuse to resume"
    )
    parser.add_argument(
        "--output-dir", help="where runs are written (default: run.output_dir, 'checkpoints')"
    )
    parser.add_argument(
        "--address", help="Ray cluster address (default: $RAY_ADDRESS, a running cluster, or a new local one)"
    )
    parser.add_argument("--quiet", action="store_true", help="no live status table; log lines only")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after the plan, stay up: validate, queue and train the files dropped into the inbox, serve "
        "the promoted results through the router",
    )
    parser.set_defaults(func=run_command)


def prepare_config(args: argparse.Namespace) -> Any:
    """Load and validate the config once, with the command-line overrides (only the run section is checked
    again); paths made absolute for the actors, which receive this validated tree as it is."""
    from settings.run import load_run_config

    config = load_run_config(args.config)
    output_dir = Path(args.output_dir or config.run.output_dir).expanduser()
    if not output_dir.is_absolute() and "runtime_resources" in str(Path.cwd()):
        # Under `ray job submit --working-dir`, the cwd is a temporary copy: keep the night's work elsewhere.
        output_dir = Path.home() / "overnight" / output_dir
        print(
            f"run: relative output dir under a Ray job; writing to {output_dir} (set --output-dir to choose)"
        )
    changes: dict[str, Any] = {
        "output_dir": output_dir.resolve(),
        "corpora_dir": Path(config.run.corpora_dir).expanduser().resolve(),
    }
    if args.run_name:
        changes["name"] = args.run_name
    return config.with_run(source=args.config, **changes)


def run_command(args: argparse.Namespace) -> int:
    from actors.connect import recorded_address, use_token_auth_if_configured
    from settings.errors import ConfigError
    from training.preflight import check_before_start, problems_beyond_unknown_keys

    if args.address not in (None, "local"):
        use_token_auth_if_configured()  # before anything imports ray, which reads it at import
    try:
        config = prepare_config(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        for problem in problems_beyond_unknown_keys(args.config, err):
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err}. Pass --config with an existing YAML file (see configs/).", file=sys.stderr)
        return 2
    preflight = check_before_start(config)
    if preflight.corpus_warnings:
        print(
            f"run: warning: {preflight.corpus_warnings} corpus warnings (duplicates, leakage or overlong "
            "examples); `overnight corpus validate` lists them"
        )
    if preflight.problems:
        print("error: the run cannot start; nothing was trained:", file=sys.stderr)
        for problem in preflight.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    run_dir = config.run_dir()
    changed_base = base_model_change(run_dir, config.model.base_model)
    if changed_base:
        print(f"error: {changed_base}", file=sys.stderr)
        return 2
    keep_config_copy(run_dir, Path(args.config))
    print(f"run: {config.run.name} -> {run_dir}")
    live = recorded_address(run_dir)
    if live is not None and args.address not in (None, live):
        print(
            f"error: run {config.run.name} is already live on the Ray cluster at {live} (another "
            f"`overnight run` of it?); attach to it with --address {live}, or stop that driver first. Two "
            "supervisors must never share a run directory.",
            file=sys.stderr,
        )
        return 2
    if live is not None and args.address is None:
        # Rerunning the command re-attaches to the run's own cluster, not to whichever one `auto` finds.
        args.address = live
        use_token_auth_if_configured()
    return supervise(config, run_dir, args)


def supervise(config: Any, run_dir: Path, args: argparse.Namespace) -> int:
    """Start (or re-attach to) the supervisor and show progress until the night is over."""
    import ray

    from actors.attach import ClusterBusy, attach_supervisor
    from actors.connect import connect_ray, metrics_endpoints, record_address
    from actors.remote import kill_run_actors
    from control.run_state import TERMINAL_STATES

    owns_cluster = connect_ray(args.address)
    record_address(run_dir)
    print(f"run: metrics for Prometheus (and the dashboard's Grafana) at {' '.join(metrics_endpoints())}")
    try:
        supervisor = attach_supervisor(config, run_dir)
    except ClusterBusy as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ray.get(supervisor.start.remote(watch=args.watch))
    started = time.time()
    on_plan_done = (lambda: watching_hint(run_dir, config)) if args.watch else None
    try:
        state = watch(supervisor, quiet=args.quiet, on_plan_done=on_plan_done)
    except KeyboardInterrupt:
        print("\nrun: interrupted; the supervisor keeps its state on disk. Rerun the same command to resume.")
        if not owns_cluster:
            print(
                "run: this cluster outlives the driver, so the detached supervisor goes on (training, or "
                f"watching the inbox); `overnight ctl stop-run --run {config.run.name}` ends it"
            )
        return 130
    names = list(state["specialists"])
    kill_run_actors(names)
    serve_hint(run_dir, owns_cluster)
    if owns_cluster:
        ray.shutdown()
    print(f"run: finished in {time.time() - started:.0f}s; report: {run_dir / 'report.md'}")
    for name, spec in state["specialists"].items():
        print(f"  {name:<12} {spec['state']:<9} {spec.get('reason') or ''}")
    failed = [
        n
        for n, s in state["specialists"].items()
        if s["state"] not in TERMINAL_STATES or s["state"] == "failed"
    ]
    return 1 if failed else 0


def serve_hint(run_dir: Path, owns_cluster: bool) -> None:
    """On a cluster that outlives this driver, leave the router up; on a private one, say how to ask."""
    if not (run_dir / PROMOTED_FILE).is_file():
        print("router: nothing was promoted, so there is nothing to serve")
        return
    if owns_cluster:
        print(f'router: ask the experts with `overnight ask --run {run_dir.name} "Convert to LC-R: [1, 2]"`')
        return
    from actors.router_service import start_router_actor
    from serving.routing import RouterError

    try:
        start_router_actor(run_dir)
    except RouterError as err:
        print(f"router: not started: {err}")
        return
    print(f"router: the named actor 'router' serves {run_dir.name}; `overnight ask` and `serve` use it")


def watching_hint(run_dir: Path, config: Any) -> None:
    """Watch mode: the plan is over; serve what it promoted and say where new data goes."""
    print(f"run: the plan is done; report: {run_dir / 'report.md'}")
    serve_hint(run_dir, owns_cluster=False)
    inbox = config.inbox.root(run_dir)
    print(
        f"run: watching {inbox}/{{high,normal,low}}/ for JSONL files (or `overnight submit FILE "
        f"--specialist NAME --run {run_dir.name}`); `overnight queue list` and `overnight status` show the "
        f"jobs; `overnight ctl stop-run --run {run_dir.name}` ends the run"
    )


def watch(
    supervisor: Any, quiet: bool, poll_s: float = 2.0, on_plan_done: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Poll the supervisor until the run ends (never, in watch mode); a live status table unless quiet."""
    import ray
    from rich.console import Console
    from rich.live import Live

    from report.views import display_epoch, live_view

    console = Console()
    state = ray.get(supervisor.status.remote())
    announced = [False]

    def plan_check(state: dict[str, Any]) -> None:
        if on_plan_done is not None and state.get("plan_done_at") and not announced[0]:
            announced[0] = True
            on_plan_done()

    if quiet or not console.is_terminal:
        last = ""
        while state["status"] == "running":
            plan_check(state)
            line = "  ".join(
                f"{n}:{s['state']}:{s.get('phase') or '-'}:e{display_epoch(s['epoch'])}:s{s['step']}"
                for n, s in state["specialists"].items()
            )
            jobs = " ".join(f"{job['id']}:{job['priority']}:{job['state']}" for job in state.get("queue", []))
            line += f"  queue: {jobs}" if jobs else ""
            if line != last:
                print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)
                last = line
            time.sleep(poll_s)
            state = ray.get(supervisor.status.remote())
        return state
    with Live(live_view(state), console=console, refresh_per_second=1) as live:
        while state["status"] == "running":
            time.sleep(poll_s)
            state = ray.get(supervisor.status.remote())
            if on_plan_done is not None and state.get("plan_done_at") and not announced[0]:
                live.stop()
                plan_check(state)
                live.start()
            live.update(live_view(state))
    return state
