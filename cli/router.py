"""`overnight ask` and `overnight serve`, and the named `router` Ray actor they and `overnight run` share."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from control.run_files import PROMOTED_FILE, RUN_CONFIG_FILE, RunFileError, read_promoted, resolve_run_dir
from serving.limits import BATCHES_IN_FLIGHT, CONTROL_GROUP
from serving.routing import (
    PromotionError,
    RequestError,
    RouterError,
    RouterSettings,
    check_request,
    expert_table,
    weights_problem,
)

ROUTER_NAME = "router"
NAMESPACE = "overnight"
ROUTER_NUM_CPUS = 1.0
BODY_TIMEOUT_S = 10.0
HTTP_APP_NAME = "overnight"
DEFAULT_OUTPUT_DIR = "checkpoints"

ASK_EPILOG = """\
examples:
  overnight ask "Convert to LC-R: {14: {@0: 42}}"
  overnight ask --run night1 --json "Transliterate to HLX: program p { block b() { return 1; } }"
  overnight ask --expert coordinator "Explain contract: {900: {@0: &h_s, @1: \\"main\\", @2: \\"compute\\"}}"
  cat long_request.txt | overnight ask -          # `-` reads the prompt from stdin
  overnight ask --prompt-file long_request.txt

Uses the named `router` actor when a Ray cluster runs one for this run; otherwise loads the run's
promoted checkpoints in this process (seconds for the built-in model).
"""

SERVE_EPILOG = """\
examples:
  export OVERNIGHT_API_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
  overnight serve --run demo --port 8000
  curl -H "Authorization: Bearer $OVERNIGHT_API_KEY" -H "Content-Type: application/json" \\
       -d '{"prompt": "Convert to LC-R: [1, 2]"}' http://127.0.0.1:8000/v1/generate

Endpoints: POST /v1/generate, POST /v1/completions (OpenAI style), GET /models, POST /models/reload,
GET /health (the only one without the key).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    ask = subparsers.add_parser(
        "ask",
        help="ask the trained experts one HLX question",
        description="Route one request to the expert HLX_SPEC §7 names (the coordinator, the ASCII or the "
        "runic specialist), answer it greedily and check the answer with the HLX toolkit.",
        epilog=ASK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument(
        "prompt",
        nargs="?",
        help="the request, as in the corpora: 'Convert to LC-R: <value>'; `-` reads stdin",
    )
    ask.add_argument("--prompt-file", help="read the request from this UTF-8 file (for long prompts)")
    _run_arguments(ask)
    ask.add_argument("--json", action="store_true", help="print the whole answer as one JSON object")
    ask.add_argument(
        "--max-new-tokens", type=int, help="answer length cap (default: the run's max_new_tokens)"
    )
    ask.add_argument(
        "--expert", help="skip routing and ask this expert: coordinator, a specialist name, or a track"
    )
    ask.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads of an in-process router (default: torch's; 1 is fastest on a busy machine)",
    )
    ask.add_argument(
        "--local",
        action="store_true",
        help="load the router in this process even if a router actor is running",
    )
    ask.set_defaults(func=ask_command)

    serve = subparsers.add_parser(
        "serve",
        help="serve the trained experts over authenticated HTTP (Ray Serve)",
        description="Start (or reuse) the named router actor for a finished run and put a Ray Serve HTTP "
        "application in front of it. Every endpoint except /health needs 'Authorization: Bearer <key>' "
        "with the key from $OVERNIGHT_API_KEY.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _run_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="serve without an API key when OVERNIGHT_API_KEY is unset (anyone reaching the port can use it)",
    )
    serve.add_argument(
        "--address", help="Ray cluster address (default: $RAY_ADDRESS, a running cluster, or a new local one)"
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=BODY_TIMEOUT_S,
        help="seconds a client has to send its whole request body before it gets 408 (default: %(default)s)",
    )
    serve.set_defaults(func=_serve_command)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="run name or run directory (default: the most recently updated run)")
    parser.add_argument(
        "--output-dir",
        default=DEFAULT_OUTPUT_DIR,
        help="where runs live (default: %(default)s; Ray-job runs write to ~/overnight/checkpoints)",
    )


def _serve_command(args: argparse.Namespace) -> int:
    from cli.serve import serve_command  # serve_cli builds on this module's actor helpers

    return serve_command(args)


# ------------------------------------------------------------------------------------ run directory


def servable_run(output_dir: str | Path, run: str | None) -> Path:
    """The run directory to serve, checked without loading a model; raises RouterError saying what to do."""
    root = Path(output_dir).expanduser()
    outside = RunFileError(
        f"--run {run!r} is outside --output-dir {output_dir}: name a run in it, or pass the --output-dir "
        "that holds the run"
    )
    try:
        # `--run ../../etc` or `--run /etc`: nothing outside the runs' directory is looked at or served.
        if run is not None and not (root / run).resolve().is_relative_to(root.resolve()):
            raise outside
        run_dir = resolve_run_dir(root, run)
        if not run_dir.resolve().is_relative_to(root.resolve()):
            raise outside
        promoted = read_promoted(run_dir)
    except RunFileError as err:
        raise RouterError(str(err)) from err
    if promoted is None:
        raise RouterError(
            f"{run_dir / PROMOTED_FILE} does not exist: run {run_dir.name!r} has promoted nothing yet (still "
            "training, or no specialist finished a phase); check `overnight status`, or pick a finished run "
            "with --run"
        )
    try:
        table = expert_table(promoted, str(run_dir / PROMOTED_FILE))
    except PromotionError as err:
        raise RouterError(str(err)) from err
    for spec in [table.coordinator, *table.specialists.values()]:
        problem = weights_problem(spec)
        if problem is not None:
            raise RouterError(problem)
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


# -------------------------------------------------------------------------------------- Ray actor


def running_router(run_dir: Path | None = None) -> Any | None:
    """The named router actor (serving `run_dir`, when given), or None; needs a connected Ray."""
    import ray

    try:
        handle = ray.get_actor(ROUTER_NAME, namespace=NAMESPACE)
    except ValueError:
        return None
    if run_dir is not None and ray.get(handle.served_run_dir.remote(), timeout=30) != str(run_dir.resolve()):
        return None
    return handle


def start_router_actor(run_dir: str | Path, settings: dict[str, Any] | None = None) -> Any:
    """The named `router` actor (namespace `overnight`) serving `run_dir`, started if needed. A router of
    the same run is reused and told to reload promoted.json; one of another run is replaced. Needs a
    connected Ray; raises RouterError when the run cannot be served."""
    import ray
    from ray.exceptions import RayActorError

    from actors.router_actor import ServedRouter

    run_dir = Path(run_dir).resolve()
    existing = running_router()
    if existing is not None:
        try:
            serving = ray.get(existing.served_run_dir.remote(), timeout=30)
        except RayActorError:
            serving = None  # dead past its restarts: free the name for a new one
        if serving == str(run_dir):
            ray.get(existing.reload.remote())
            return existing
        ray.kill(existing, no_restart=True)
        _wait_until_gone()
    defaults, gpus = run_settings(run_dir)
    merged = {**defaults, **(settings or {})}
    try:
        batch_max_size = RouterSettings(**merged).batch_max_size
    except (TypeError, ValueError) as err:
        raise RouterError(f"{run_dir / 'config.yaml'}: router settings: {err}") from err
    # Health and listings get threads of their own, so they answer while every generate slot is busy.
    actor = ray.remote(concurrency_groups={CONTROL_GROUP: 4})(ServedRouter).options(
        name=ROUTER_NAME,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=ROUTER_NUM_CPUS,
        num_gpus=gpus,
        # Threaded: concurrent generate calls land in the router's batching queue together, as many as the
        # HTTP replica admits (two full batches).
        max_concurrency=BATCHES_IN_FLIGHT * batch_max_size,
        # It reloads promoted.json on restart, so a crash costs only the requests in flight.
        max_restarts=3,
        max_task_retries=0,
    )
    handle = actor.remote(str(run_dir), merged)
    try:
        ray.get(handle.health.remote(), timeout=600)
    except RayActorError as err:
        raise RouterError(f"the router actor could not start for {run_dir}: {err}") from err
    return handle


def _wait_until_gone(timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while running_router() is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def notify_router(run_dir: str | Path, specialist: str | None = None) -> bool:
    """Tell a running router of this run to reload (after a promotion); True when one was told. Never
    raises: a missing or busy router only misses a reload, which `POST /models/reload` can redo."""
    import ray

    if not ray.is_initialized():
        return False
    try:
        handle = running_router(Path(run_dir))
        if handle is None:
            return False
        handle.reload.remote(specialist)
        return True
    except Exception as err:  # the supervisor's promotion must not fail because of the router
        print(f"router: reload notification failed: {err}", file=sys.stderr)
        return False


def _ray_cluster_visible() -> bool:
    """RAY_ADDRESS is set, or this machine runs a Ray head (its gcs_server): only then is connecting worth
    it. A stale /tmp/ray session file alone would make `ray.init(address="auto")` wait for nothing."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    import psutil

    return any(process.info["name"] == "gcs_server" for process in psutil.process_iter(["name"]))


def _connect_existing_ray(run_dir: Path | None = None) -> bool:
    """Connect to an already running Ray cluster without starting one (the one that ran `run_dir` when it
    is still up); False when there is none."""
    from cli.run import recorded_address, use_token_auth_if_configured

    address = recorded_address(run_dir) if run_dir is not None else None
    if address is None and not _ray_cluster_visible():
        return False
    if address is not None:
        use_token_auth_if_configured()  # before ray is imported: it reads the setting at import
    import ray

    if ray.is_initialized():
        return True
    try:
        ray.init(address=address or "auto", namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError):
        return False
    return True


# -------------------------------------------------------------------------------------------- ask


def ask_command(args: argparse.Namespace) -> int:
    try:
        run_dir = servable_run(args.output_dir, args.run)
        prompt = read_prompt(args.prompt, args.prompt_file)
        settings, _ = run_settings(run_dir)
        try:
            limits = RouterSettings(**settings)
        except (TypeError, ValueError) as err:
            raise RouterError(f"{run_dir / 'config.yaml'}: router settings: {err}") from err
        # Checked before Ray is even looked for: a bad request costs nothing.
        check_request(limits, prompt, args.max_new_tokens)
        # Library logs (model loading, the router's own) go to stderr: stdout carries only the answer.
        with contextlib.redirect_stdout(sys.stderr):
            answer = _ask(run_dir, prompt, settings, args)
    except (RequestError, RouterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def read_prompt(positional: str | None, prompt_file: str | None) -> str:
    """The request from the command line, stdin (`-`) or --prompt-file; RequestError when none or both."""
    if (positional is None) == (prompt_file is None):
        raise RequestError(
            "give the request as an argument, `-` to read it from stdin, or --prompt-file PATH (exactly one)",
            field="prompt",
        )
    if prompt_file is not None:
        try:
            return Path(prompt_file).read_text(encoding="utf-8").rstrip("\n")
        except (OSError, UnicodeDecodeError) as err:
            raise RequestError(
                f"--prompt-file {prompt_file}: cannot read it as UTF-8 text: {err}", "prompt"
            ) from err
    if positional == "-":
        return sys.stdin.read().rstrip("\n")
    return positional or ""


def _ask(run_dir: Path, prompt: str, settings: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    if not args.local and _connect_existing_ray(run_dir):
        import ray

        handle = running_router(run_dir)
        if handle is not None:
            try:
                return ray.get(handle.generate.remote(prompt, args.max_new_tokens, args.expert))
            except Exception as err:
                cause = getattr(err, "cause", None)
                if isinstance(cause, RequestError | RouterError):
                    raise cause from None
                raise
    from serving.router import Router

    if args.threads:
        settings = {**settings, "torch_threads": args.threads}
    router = Router(run_dir, settings)
    try:
        return router.generate(prompt, args.max_new_tokens, args.expert)
    finally:
        router.close()


def format_answer(answer: dict[str, Any]) -> str:
    served = (
        f"adapter {answer['adapter']}, checkpoint {answer['checkpoint']}"
        if answer["adapter"]
        else "base model"
    )
    if answer["valid"] is None:
        validity = answer["check_error"]  # `not checked: <why>`: free text has nothing to check it against
    elif answer["valid"]:
        validity = "yes" + (
            "" if answer["canonical"] == answer["text"] else f"; canonical: {answer['canonical']}"
        )
    else:
        validity = f"no: {answer['check_error']}"
    rows = [
        ("expert", f"{answer['expert']} ({served})"),
        ("reason", answer["reason"]),
        ("format", answer["format"]),
        ("answer", answer["text"]),
        ("valid", validity),
        (
            "latency",
            f"{answer['latency_ms']:.0f} ms, {answer['completion_tokens']} tokens, {answer['finish_reason']}",
        ),
    ]
    return "\n".join(f"{label:<8} {value}" for label, value in rows)
