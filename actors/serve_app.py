"""The router's HTTP API: a FastAPI app with API-key auth, run by uvicorn in tests and by Ray Serve in use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from serving.guard import ApiKey, Guard, error_body
from serving.limits import (
    CONTROL_GROUP,
    HTTP_REPLICAS,
    HttpLimits,
    http_limits,
    max_ongoing_requests,
)
from serving.metric_sink import SampleSink
from serving.openai_api import OPENAI_PATHS, MaxTokens, add_openai_routes
from serving.routing import PromptTooLong, RequestError, RouterError
from serving.safe_logging import clip
from serving.streaming import stream_answer

__all__ = ["ApiKey", "RouterUnavailable", "build_app", "http_application"]

API_KEY_ENV = "OVERNIGHT_API_KEY"
OPEN_PATHS = frozenset({"/health"})
log = structlog.get_logger(__name__)


class RouterClient(Protocol):
    """What the app needs from a router: an in-process Router or the named Ray actor."""

    async def generate(
        self, prompt: str, max_new_tokens: int | None, expert: str | None
    ) -> dict[str, Any]: ...

    def stream(
        self, prompt: str, max_new_tokens: int | None, expert: str | None
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def models(self) -> dict[str, Any]: ...

    async def reload(self, specialist: str | None) -> dict[str, Any]: ...

    async def health(self) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...

    def limits(self) -> dict[str, Any]: ...


class LocalRouterClient:
    """An in-process serving.router.Router; generation is awaited on its future, never blocking the loop."""

    def __init__(self, router: Any) -> None:
        self.router = router

    async def generate(self, prompt: str, max_new_tokens: int | None, expert: str | None) -> dict[str, Any]:
        return await asyncio.wrap_future(self.router.submit(prompt, max_new_tokens, expert))

    async def stream(
        self, prompt: str, max_new_tokens: int | None, expert: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """serving.streaming.stream_answer's events, each waited for on a thread (never on the loop)."""
        events = stream_answer(self.router, prompt, max_new_tokens, expert)
        done = object()
        while (event := await asyncio.to_thread(next, events, done)) is not done:
            yield event

    async def models(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.router.models)

    async def reload(self, specialist: str | None) -> dict[str, Any]:
        return await asyncio.to_thread(self.router.reload, specialist)

    async def health(self) -> dict[str, Any]:
        return self.router.health()

    async def stats(self) -> dict[str, Any]:
        return self.router.stats()

    def limits(self) -> dict[str, Any]:
        return self.router.limits()


class RouterUnavailable(RouterError):
    """The router actor is dead or restarting; `overnight serve` recreates it (HTTP 503 with Retry-After)."""


class ActorRouterClient:
    """The named `router` Ray actor, looked up again after it died (serve recreates it under the same
    name). Its request errors arrive wrapped by Ray and are unwrapped here; a dead or restarting actor
    becomes RouterUnavailable."""

    def __init__(self, lookup: Callable[[], Any], limits: dict[str, Any], handle: Any | None = None) -> None:
        self._lookup = lookup
        self._handle = handle
        self._limits = limits

    async def _current(self) -> Any:
        if self._handle is None:
            try:
                self._handle = await asyncio.to_thread(self._lookup)
            except ValueError:  # no live actor of that name
                raise RouterUnavailable("the router is down and being restarted; retry shortly") from None
        return self._handle

    async def _call(self, method: str, *args: Any, control: bool = False) -> dict[str, Any]:
        handle = await self._current()
        remote = getattr(handle, method)
        if control:  # health and listings answer even while every generate slot is taken
            remote = remote.options(concurrency_group=CONTROL_GROUP)
        return await self._unwrapped(remote.remote(*args))

    async def _unwrapped(self, ref: Any) -> Any:
        from ray.exceptions import ActorDiedError, RayActorError

        try:
            return await ref
        except RayActorError as err:
            if isinstance(err, ActorDiedError):
                self._handle = None  # look the name up again: serve starts a new router under it
            raise RouterUnavailable("the router is down and being restarted; retry shortly") from None
        except Exception as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, RequestError | RouterError):
                raise cause from None
            raise

    async def generate(self, prompt: str, max_new_tokens: int | None, expert: str | None) -> dict[str, Any]:
        return await self._call("generate", prompt, max_new_tokens, expert)

    async def stream(
        self, prompt: str, max_new_tokens: int | None, expert: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """The actor's `stream` generator, item by item as the actor yields them (Ray's streaming
        generator); errors are unwrapped as in `_call`."""
        handle = await self._current()
        events = handle.stream.options(num_returns="streaming").remote(prompt, max_new_tokens, expert)
        while True:
            try:
                ref = await self._unwrapped(anext(events))  # a dead actor fails here
            except StopAsyncIteration:
                return
            yield await self._unwrapped(ref)

    async def models(self) -> dict[str, Any]:
        return await self._call("models", control=True)

    async def reload(self, specialist: str | None) -> dict[str, Any]:
        return await self._call("reload", specialist, control=True)

    async def health(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._call("health", control=True), timeout=5.0)

    async def stats(self) -> dict[str, Any]:
        return await self._call("stats", control=True)

    def limits(self) -> dict[str, Any]:
        return self._limits


class GenerateBody(BaseModel):
    """POST /v1/generate."""

    model_config = ConfigDict(extra="forbid")
    prompt: str
    max_new_tokens: MaxTokens | None = None
    expert: str | None = None


class ReloadBody(BaseModel):
    """POST /models/reload; no body reloads every specialist."""

    model_config = ConfigDict(extra="forbid")
    specialist: str | None = None


def _field_of(location: tuple[Any, ...]) -> str:
    """The request field a validation error is about: ('body', 'prompt') -> prompt; bad JSON -> body."""
    names = [str(part) for part in location[1:] if isinstance(part, str)]
    return ".".join(names) if names else "body"


def build_app(
    client: RouterClient,
    *,
    api_key: str | None = None,
    api_key_sha256: str | None = None,
    insecure: bool = False,
    limits: HttpLimits | None = None,
    metrics: SampleSink | None = None,
) -> FastAPI:
    """The HTTP API over `client`. Every path but /health needs `Authorization: Bearer <key>`; with no key
    the app refuses to build unless `insecure` is set. `limits` default to http_limits(client.limits()).
    `metrics` gets a sample for every error response, by status."""
    if api_key is not None:
        api_key_sha256 = ApiKey.hash(api_key)
    if api_key_sha256 is None and not insecure:
        raise ValueError(f"no API key: set {API_KEY_ENV}, or pass insecure=True to serve without auth")
    key = ApiKey(api_key_sha256) if api_key_sha256 is not None else None
    router_limits = client.limits()
    http = limits or http_limits(router_limits)
    app = FastAPI(title="overnight router", description="HLX requests answered by the trained experts.")
    app.add_middleware(
        Guard, key=key, limits=http, open_paths=OPEN_PATHS, openai_paths=OPENAI_PATHS, metrics=metrics
    )
    _add_error_handlers(app, http)
    _add_routes(
        app, client, int(router_limits["max_prompt_chars"]), int(router_limits["max_new_tokens_limit"])
    )
    _add_model_routes(app, client)
    return app


def _add_error_handlers(app: FastAPI, http: HttpLimits) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        field = _field_of(tuple(first.get("loc", ())))
        message = f"{field}: {first.get('msg', 'invalid')}"
        body = error_body("invalid_request", message, field, detail=jsonable(err.errors()))
        return JSONResponse(status_code=422, content=body)

    @app.exception_handler(RequestError)
    async def refused(_: Request, err: RequestError) -> JSONResponse:
        kind = {413: "prompt_too_long", 404: "not_found"}.get(err.status, "invalid_request")
        return JSONResponse(status_code=err.status, content=error_body(kind, str(err), err.field))

    @app.exception_handler(RouterError)
    async def unavailable(_: Request, err: RouterError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content=error_body("router_unavailable", str(err)),
            headers={"Retry-After": str(http.retry_after_s)},
        )


def _add_routes(app: FastAPI, client: RouterClient, max_chars: int, max_new_limit: int) -> None:
    def check(request: Request, prompt: str, max_new_tokens: int | None, field: str) -> None:
        # Checked here as well as in the router, so a bad request never costs a trip to the model.
        request.state.prompt = clip(prompt)  # what the failure log may show of it
        if len(prompt) > max_chars:
            raise PromptTooLong(
                f"prompt is {len(prompt)} characters; this server accepts at most {max_chars}", "prompt"
            )
        if max_new_tokens is not None and not 1 <= max_new_tokens <= max_new_limit:
            raise RequestError(f"{field}={max_new_tokens} must be in 1..{max_new_limit}", field)

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            state = await client.health()
        except Exception as err:
            # Unauthenticated: say that the router is down, log why, tell nothing more.
            log.warning("health check failed", error=clip(repr(err), 200))
            return JSONResponse(status_code=503, content={"status": "unavailable"})
        ok = state.get("status") == "ok"
        return JSONResponse(status_code=200 if ok else 503, content={"status": state.get("status")})

    @app.post("/v1/generate")
    async def generate(request: Request, body: GenerateBody) -> dict[str, Any]:
        check(request, body.prompt, body.max_new_tokens, "max_new_tokens")
        return await client.generate(body.prompt, body.max_new_tokens, body.expert)

    add_openai_routes(app, client, check)


def _add_model_routes(app: FastAPI, client: RouterClient) -> None:
    @app.get("/models")
    async def models() -> dict[str, Any]:
        return await client.models()

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return await client.stats()

    @app.get("/v1/models")
    async def openai_models() -> dict[str, Any]:
        listing = await client.models()
        names = ["auto", *(expert["name"] for expert in listing["experts"])]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "owned_by": "overnight"} for n in names],
        }

    @app.post("/models/reload")
    async def reload(body: ReloadBody | None = None) -> JSONResponse:
        report = await client.reload(body.specialist if body is not None else None)
        if report.get("failed"):
            names = ", ".join(sorted(report["failed"]))
            message = f"could not load {names}; the previous versions keep serving"
            return JSONResponse(status_code=500, content=error_body("reload_failed", message, report=report))
        return JSONResponse(content=report)


def jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    """Validation errors without their `ctx`/`input` objects, which may not be JSON (bytes, exceptions)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in errors
    ]


def http_application(
    key_sha256: str | None,
    insecure: bool,
    limits: dict[str, Any],
    actor_name: str,
    namespace: str,
    body_timeout_s: float = 10.0,
) -> Any:
    """The Ray Serve application: HTTP_REPLICAS light replicas (no model in them) whose FastAPI app forwards
    every request to the named router actor. Each admits max_ongoing_requests(limits) requests at once, so
    the router's batches can fill. Only the key's digest is shipped to the replica."""
    from ray import serve

    @serve.deployment(
        name="overnight_http",
        num_replicas=HTTP_REPLICAS,
        max_ongoing_requests=max_ongoing_requests(limits),
        ray_actor_options={"num_cpus": 0},
    )
    @serve.ingress()
    class RouterHTTP:
        def __init__(self, key_sha256: str | None, insecure: bool, limits: dict[str, Any]) -> None:
            self.key_sha256 = key_sha256
            self.insecure = insecure
            self.limits = limits

        def __serve_build_asgi_app__(self) -> FastAPI:
            import ray

            def lookup() -> Any:
                return ray.get_actor(actor_name, namespace=namespace)

            # Looked up once here, as the replica starts, so the first request does not wait for it (a
            # router that is down is looked up again by the first request).
            try:
                handle = lookup()
            except ValueError:
                handle = None
            from actors.metrics import MetricsRecorder

            client = ActorRouterClient(lookup, self.limits, handle)
            return build_app(
                client,
                api_key_sha256=self.key_sha256,
                insecure=self.insecure,
                limits=http_limits(self.limits, body_timeout_s),
                metrics=MetricsRecorder(),  # errors by status, exported by Ray from this replica
            )

    return RouterHTTP.bind(key_sha256, insecure, limits)
