"""`overnight serve`: the router actor behind a Ray Serve HTTP app, kept up while it runs."""

from __future__ import annotations

import argparse
import os
import sys

from serving.routing import RouterError
from serving.served_run import servable_run

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

    from actors.connect import connect_ray
    from actors.router_service import HTTP_APP_NAME, deploy_http, router_state, start_router_actor
    from serving.watch import watch_router

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
