"""`overnight serve`: the router actor behind a Ray Serve HTTP app, kept up while it runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cli.router import (
    BODY_TIMEOUT_S,
    HTTP_APP_NAME,
    NAMESPACE,
    ROUTER_NAME,
    running_router,
    servable_run,
    start_router_actor,
)
from serving.limits import CONTROL_GROUP
from serving.routing import RouterError
from serving.watch import RouterState, watch_router

# The end-to-end backstop of one HTTP request (Ray Serve's request_timeout_s): a full batch of long answers
# on CPU takes minutes, anything longer is stuck.
REQUEST_TIMEOUT_S = 300.0


INSECURE_BANNER = """\
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  WARNING: --insecure: serving WITHOUT AUTHENTICATION. Anyone who can reach        !!
!!  {url:<78}!!
!!  can use the models. Set OVERNIGHT_API_KEY and restart to require a key.           !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


def api_key_or_refusal(insecure: bool) -> tuple[str | None, str | None]:
    """(key, refusal): the configured key, or why the server must not start."""
    from actors.serve_app import API_KEY_ENV

    key = os.environ.get(API_KEY_ENV, "").strip() or None
    if key is None and not insecure:
        return None, (
            f"{API_KEY_ENV} is not set, so the server would accept anyone. Set it, e.g. "
            f"`export {API_KEY_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`, "
            "or pass --insecure to serve without authentication on a trusted machine"
        )
    return key, None


def deploy_http(
    run_dir: Path,
    host: str,
    port: int,
    api_key: str | None,
    insecure: bool,
    body_timeout_s: float = BODY_TIMEOUT_S,
    settings: dict[str, Any] | None = None,
) -> str:
    """Start the router actor (RouterSettings `settings` over the run's) and the Ray Serve HTTP app in
    front of it; returns the base URL. Needs a connected Ray. Only the key's SHA-256 leaves this process."""
    import ray
    from ray import serve

    from actors.serve_app import ApiKey, http_application

    handle = start_router_actor(run_dir, settings)
    limits = ray.get(handle.limits.remote())
    serve.start(http_options={"host": host, "port": port, "request_timeout_s": REQUEST_TIMEOUT_S})
    key_sha256 = ApiKey.hash(api_key) if api_key else None
    serve.run(
        http_application(key_sha256, insecure, limits, ROUTER_NAME, NAMESPACE, body_timeout_s),
        name=HTTP_APP_NAME,
        route_prefix="/",
        blocking=False,
    )
    return f"http://{host}:{port}"


def router_state() -> RouterState:
    """How the named router actor is: `alive`, `busy` (Ray restarts it, or it is slow to answer), `gone`."""
    import ray
    from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

    handle = running_router()
    if handle is None:
        return "gone"
    try:
        ray.get(handle.health.options(concurrency_group=CONTROL_GROUP).remote(), timeout=10)
    except ActorDiedError:
        return "gone"
    except (RayActorError, GetTimeoutError):
        return "busy"
    return "alive"


def serve_command(args: argparse.Namespace) -> int:
    from actors.serve_app import API_KEY_ENV

    key, refusal = api_key_or_refusal(args.insecure)
    # Out of this process's environment before Ray starts: every process of a local cluster would inherit it.
    os.environ.pop(API_KEY_ENV, None)
    if refusal is not None:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        run_dir = servable_run(args.output_dir, args.run)
    except RouterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}"
    if key is None:
        print(INSECURE_BANNER.format(url=url), file=sys.stderr)
    elif args.insecure:
        print("serve: OVERNIGHT_API_KEY is set, so --insecure is ignored: requests need the key")
    import ray
    from ray import serve

    from cli.run import connect_ray

    owns_cluster = connect_ray(args.address)
    try:
        url = deploy_http(run_dir, args.host, args.port, key, key is None, args.body_timeout)
    except RouterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"serve: run {run_dir.name} at {url} (GET {url}/models lists the experts); Ctrl-C stops", flush=True
    )
    try:
        code = watch_router(router_state, lambda: start_router_actor(run_dir))
    except KeyboardInterrupt:
        print("\nserve: stopping the HTTP app; the router actor keeps serving `overnight ask`")
        code = 0
    serve.delete(HTTP_APP_NAME)
    if owns_cluster:
        ray.shutdown()
    return code
