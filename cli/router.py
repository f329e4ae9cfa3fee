"""`overnight ask` and `overnight serve`: arguments and printing (the actor: actors/router_service.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from serving.limits import BODY_TIMEOUT_S
from serving.routing import RequestError, RouterError, RouterSettings, check_request

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
    _register_ask(subparsers)
    _register_serve(subparsers)


def _register_ask(subparsers: argparse._SubParsersAction) -> None:
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


def _register_serve(subparsers: argparse._SubParsersAction) -> None:
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
    from cli.serve import serve_command  # loaded only for `serve`: it brings Ray Serve along

    return serve_command(args)


# -------------------------------------------------------------------------------------------- ask


def ask_command(args: argparse.Namespace) -> int:
    from serving.served_run import run_settings, servable_run

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
    from actors.connect import connect_existing_ray, recorded_address

    if not args.local and connect_existing_ray(recorded_address(run_dir)):
        import ray

        from actors.router_service import running_router

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
