"""The router's HTTP API: a FastAPI app with API-key auth, run by uvicorn in tests and by Ray Serve in use."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from typing import Any, Protocol

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from actors.routing import PromptTooLong, RequestError, RouterError

API_KEY_ENV = "OVERNIGHT_API_KEY"
OPEN_PATHS = frozenset({"/health"})
MAX_PROMPTS_PER_COMPLETION = 32
log = structlog.get_logger(__name__)


class RouterClient(Protocol):
    """What the app needs from a router: an in-process Router or the named Ray actor."""

    async def generate(
        self, prompt: str, max_new_tokens: int | None, expert: str | None
    ) -> dict[str, Any]: ...

    async def models(self) -> dict[str, Any]: ...

    async def reload(self, specialist: str | None) -> dict[str, Any]: ...

    async def health(self) -> dict[str, Any]: ...

    def limits(self) -> dict[str, Any]: ...


class LocalRouterClient:
    """An in-process actors.router.Router; generation is awaited on its future, never blocking the loop."""

    def __init__(self, router: Any) -> None:
        self.router = router

    async def generate(self, prompt: str, max_new_tokens: int | None, expert: str | None) -> dict[str, Any]:
        return await asyncio.wrap_future(self.router.submit(prompt, max_new_tokens, expert))

    async def models(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.router.models)

    async def reload(self, specialist: str | None) -> dict[str, Any]:
        return await asyncio.to_thread(self.router.reload, specialist)

    async def health(self) -> dict[str, Any]:
        return self.router.health()

    def limits(self) -> dict[str, Any]:
        return self.router.limits()


class ActorRouterClient:
    """The named `router` Ray actor; its exceptions arrive wrapped by Ray and are unwrapped here."""

    def __init__(self, handle: Any, limits: dict[str, Any]) -> None:
        self.handle = handle
        self._limits = limits

    async def _call(self, method: str, *args: Any) -> dict[str, Any]:
        try:
            return await getattr(self.handle, method).remote(*args)
        except Exception as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, RequestError | RouterError):
                raise cause from None
            raise

    async def generate(self, prompt: str, max_new_tokens: int | None, expert: str | None) -> dict[str, Any]:
        return await self._call("generate", prompt, max_new_tokens, expert)

    async def models(self) -> dict[str, Any]:
        return await self._call("models")

    async def reload(self, specialist: str | None) -> dict[str, Any]:
        return await self._call("reload", specialist)

    async def health(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._call("health"), timeout=5.0)

    def limits(self) -> dict[str, Any]:
        return self._limits


class GenerateBody(BaseModel):
    """POST /v1/generate."""

    model_config = ConfigDict(extra="forbid")
    prompt: str
    max_new_tokens: int | None = None
    expert: str | None = None


class CompletionBody(BaseModel):
    """POST /v1/completions (OpenAI style). Sampling fields OpenAI clients send are accepted and ignored:
    the router always decodes greedily."""

    model_config = ConfigDict(extra="allow")
    prompt: str | list[str]
    model: str | None = "auto"
    max_tokens: int | None = None
    stream: bool = False


class ReloadBody(BaseModel):
    """POST /models/reload; no body reloads every specialist."""

    model_config = ConfigDict(extra="forbid")
    specialist: str | None = None


class ApiKey:
    """The configured key, kept as its SHA-256 so it is never stored or shipped in clear."""

    def __init__(self, sha256_hex: str) -> None:
        self.digest = bytes.fromhex(sha256_hex)

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def accepts(self, header: str | None) -> tuple[bool, str]:
        """(accepted, why not) for an Authorization header value; compared in constant time."""
        if not header:
            return False, "missing 'Authorization: Bearer <key>' header"
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False, "the Authorization header must read 'Bearer <key>'"
        candidate = hashlib.sha256(given.strip().encode("utf-8")).digest()
        if not hmac.compare_digest(candidate, self.digest):
            return False, "wrong API key"
        return True, ""


def error_response(
    status: int, kind: str, message: str, field: str | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"type": kind, "message": message, "field": field}, **extra}
    )


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
) -> FastAPI:
    """The HTTP API over `client`. Every path but /health needs `Authorization: Bearer <key>`; with no key
    the app refuses to build unless `insecure` is set."""
    if api_key is not None:
        api_key_sha256 = ApiKey.hash(api_key)
    if api_key_sha256 is None and not insecure:
        raise ValueError(f"no API key: set {API_KEY_ENV}, or pass insecure=True to serve without auth")
    key = ApiKey(api_key_sha256) if api_key_sha256 is not None else None
    limits = client.limits()
    max_chars = int(limits["max_prompt_chars"])
    max_new_limit = int(limits["max_new_tokens_limit"])
    app = FastAPI(title="overnight router", description="HLX requests answered by the trained experts.")

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        if key is not None and request.url.path not in OPEN_PATHS:
            accepted, why = key.accepts(request.headers.get("authorization"))
            if not accepted:
                response = error_response(401, "unauthorized", why)
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        field = _field_of(tuple(first.get("loc", ())))
        message = f"{field}: {first.get('msg', 'invalid')}"
        return error_response(422, "invalid_request", message, field, detail=jsonable(err.errors()))

    @app.exception_handler(RequestError)
    async def refused(_: Request, err: RequestError) -> JSONResponse:
        kind = {413: "prompt_too_long", 404: "not_found"}.get(err.status, "invalid_request")
        return error_response(err.status, kind, str(err), err.field)

    @app.exception_handler(RouterError)
    async def unavailable(_: Request, err: RouterError) -> JSONResponse:
        return error_response(503, "router_unavailable", str(err))

    @app.exception_handler(Exception)
    async def internal(_: Request, err: Exception) -> JSONResponse:
        log.exception("request failed", error=repr(err))
        return error_response(500, "internal", f"{type(err).__name__}: {err}")

    def check(prompt: str, max_new_tokens: int | None, field: str) -> None:
        # Checked here as well as in the router, so a bad request never costs a trip to the model.
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
            log.warning("health check failed", error=repr(err))
            return JSONResponse(status_code=503, content={"status": "unavailable"})
        ok = state.get("status") == "ok"
        return JSONResponse(status_code=200 if ok else 503, content={"status": state.get("status")})

    @app.post("/v1/generate")
    async def generate(body: GenerateBody) -> dict[str, Any]:
        check(body.prompt, body.max_new_tokens, "max_new_tokens")
        return await client.generate(body.prompt, body.max_new_tokens, body.expert)

    @app.post("/v1/completions")
    async def completions(body: CompletionBody) -> dict[str, Any]:
        if body.stream:
            raise RequestError("streaming is not supported; send stream: false", "stream")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not 1 <= len(prompts) <= MAX_PROMPTS_PER_COMPLETION:
            raise RequestError(f"prompt must hold 1..{MAX_PROMPTS_PER_COMPLETION} strings", "prompt")
        for prompt in prompts:
            check(prompt, body.max_tokens, "max_tokens")
        expert = None if body.model in (None, "", "auto") else body.model
        answers = await asyncio.gather(*(client.generate(p, body.max_tokens, expert) for p in prompts))
        return completion_response(answers, body.model or "auto")

    @app.get("/models")
    async def models() -> dict[str, Any]:
        return await client.models()

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
            return error_response(
                500,
                "reload_failed",
                f"could not load {names}; the previous versions keep serving",
                report=report,
            )
        return JSONResponse(content=report)

    return app


def jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    """Validation errors without their `ctx`/`input` objects, which may not be JSON (bytes, exceptions)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in errors
    ]


def completion_response(answers: list[dict[str, Any]], requested: str) -> dict[str, Any]:
    """An OpenAI text_completion object; each choice also carries the router's verdict under `overnight`."""
    experts = {answer["expert"] for answer in answers}
    prompt_tokens = sum(answer["prompt_tokens"] for answer in answers)
    completion_tokens = sum(answer["completion_tokens"] for answer in answers)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": experts.pop() if len(experts) == 1 else requested,
        "choices": [
            {
                "text": answer["text"],
                "index": index,
                "logprobs": None,
                "finish_reason": answer["finish_reason"],
                "overnight": {
                    key: answer[key]
                    for key in ("expert", "reason", "format", "valid", "canonical", "adapter", "latency_ms")
                },
            }
            for index, answer in enumerate(answers)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def http_application(
    key_sha256: str | None, insecure: bool, limits: dict[str, Any], actor_name: str, namespace: str
) -> Any:
    """The Ray Serve application: one light replica (no model in it) whose FastAPI app forwards every
    request to the named router actor; the app is built in the replica, where the actor handle lives."""
    from ray import serve

    @serve.deployment(name="overnight_http", num_replicas=1, ray_actor_options={"num_cpus": 0})
    @serve.ingress()
    class RouterHTTP:
        def __init__(self, key_sha256: str | None, insecure: bool, limits: dict[str, Any]) -> None:
            self.key_sha256 = key_sha256
            self.insecure = insecure
            self.limits = limits

        def __serve_build_asgi_app__(self) -> FastAPI:
            import ray

            handle = ray.get_actor(actor_name, namespace=namespace)
            return build_app(
                ActorRouterClient(handle, self.limits), api_key_sha256=self.key_sha256, insecure=self.insecure
            )

    return RouterHTTP.bind(key_sha256, insecure, limits)
