"""The named `router` actor and the Ray Serve HTTP app in front of it: start, find, reload, check, deploy."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

from actors.names import NAMESPACE
from serving.limits import BATCHES_IN_FLIGHT, BODY_TIMEOUT_S, CONTROL_GROUP
from serving.routing import RouterError, RouterSettings
from serving.served_run import run_settings
from serving.watch import RouterState

ROUTER_NAME = "router"
ROUTER_NUM_CPUS = 1.0
HTTP_APP_NAME = "overnight"
# The end-to-end backstop of one HTTP request (Ray Serve's request_timeout_s): a full batch of long answers
# on CPU takes minutes, anything longer is stuck.
REQUEST_TIMEOUT_S = 300.0


def running_router(run_dir: Path | None = None) -> Any | None:
    """The named router actor (serving `run_dir`, when given), or None; needs a connected Ray."""
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
    from actors.router_actor import ServedRouter  # loads torch and peft: only where a router starts

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
        wait_until_gone()
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


def wait_until_gone(timeout_s: float = 30.0) -> None:
    """Wait until no actor holds the router's name (after a kill), at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while running_router() is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def notify_router(run_dir: str | Path, specialist: str | None = None) -> bool:
    """Tell a running router of this run to reload (after a promotion); True when one was told. Never
    raises: a missing or busy router only misses a reload, which `POST /models/reload` can redo."""
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


def router_state() -> RouterState:
    """How the named router actor is: `alive`, `busy` (Ray restarts it, or it is slow to answer), `gone`."""
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
