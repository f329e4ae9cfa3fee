"""The OpenAI-compatible endpoints: /v1/completions and /v1/chat/completions, plain or streamed (SSE)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from serving.limits import MAX_PROMPTS_PER_COMPLETION
from serving.openai_shapes import (
    DONE,
    ChunkWriter,
    chat_instruction,
    chat_response,
    completion_response,
    openai_error,
    sse,
)
from serving.routing import RequestError, RouterError
from serving.safe_logging import clip
from serving.streaming import remainder

# Paths whose errors read {"error": {"message", "type", "param", "code"}} (serve_guard reshapes them).
OPENAI_PATHS = frozenset({"/v1/completions", "/v1/chat/completions", "/v1/models"})
MaxTokens = Annotated[int, Field(strict=True)]  # `true`, `"10"` and `10.0` are refused, not coerced
COMPLETION_FIELDS = {"expert": "model"}
CHAT_FIELDS = {"expert": "model", "prompt": "messages"}
Check = Callable[[Request, str, int | None, str], None]
log = structlog.get_logger(__name__)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class CompletionBody(BaseModel):
    """POST /v1/completions. Sampling fields OpenAI clients send are accepted and ignored: the router
    always decodes greedily."""

    model_config = ConfigDict(extra="allow")
    prompt: str | list[str]
    model: str | None = "auto"
    max_tokens: MaxTokens | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[Any] | None = None


class ChatBody(BaseModel):
    """POST /v1/chat/completions: one user message, whose content is the instruction."""

    model_config = ConfigDict(extra="allow")
    messages: list[ChatMessage]
    model: str | None = "auto"
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None


def expert_of(model: str | None) -> str | None:
    return None if model in (None, "", "auto") else model


@contextmanager
def fields_renamed(names: dict[str, str]) -> Iterator[None]:
    """A refusal names the field as the client sent it: the router's `expert` is OpenAI's `model`, and a
    chat request's prompt is its `messages`."""
    try:
        yield
    except RequestError as err:
        if err.field not in names:
            raise
        raise type(err)(str(err), names[err.field]) from None


def add_openai_routes(app: FastAPI, client: Any, check: Check) -> None:
    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request, body: CompletionBody) -> dict[str, Any] | StreamingResponse:
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not 1 <= len(prompts) <= MAX_PROMPTS_PER_COMPLETION:
            raise RequestError(f"prompt must hold 1..{MAX_PROMPTS_PER_COMPLETION} strings", "prompt")
        for prompt in prompts:
            check(request, prompt, body.max_tokens, "max_tokens")
        expert = expert_of(body.model)
        if body.stream and len(prompts) != 1:
            raise RequestError("stream: true takes one prompt", "prompt")
        with fields_renamed(COMPLETION_FIELDS):
            if body.stream:
                return await _stream(client, prompts[0], body.max_tokens, expert, False, body.stream_options)
            answers = await asyncio.gather(*(client.generate(p, body.max_tokens, expert) for p in prompts))
        return completion_response(answers, body.model or "auto")

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request, body: ChatBody) -> dict[str, Any] | StreamingResponse:
        instruction = chat_instruction([message.model_dump() for message in body.messages])
        field = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
        max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        expert = expert_of(body.model)
        with fields_renamed(CHAT_FIELDS):
            check(request, instruction, max_tokens, field)
            if body.stream:
                return await _stream(client, instruction, max_tokens, expert, True, body.stream_options)
            answer = await client.generate(instruction, max_tokens, expert)
        return chat_response(answer)


async def _stream(
    client: Any, prompt: str, max_tokens: int | None, expert: str | None, chat: bool, options: Any
) -> StreamingResponse:
    """The streamed answer. The request is routed and queued before the response starts, so a bad one
    still gets its own status; a failure after that ends the stream with an error event and no [DONE]."""
    events = client.stream(prompt, max_tokens, expert).__aiter__()
    first = await anext(events)
    writer = ChunkWriter(chat, str(first.get("expert", expert or "auto")))
    include_usage = bool(options is not None and options.include_usage)
    return StreamingResponse(
        _sse_events(writer, events, include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse_events(writer: ChunkWriter, events: AsyncIterator[dict[str, Any]], usage: bool) -> Any:
    yield writer.opening()
    sent = ""
    try:
        async for event in events:
            if "delta" in event:
                sent += event["delta"]
                yield writer.text(event["delta"])
            elif "answer" in event:
                answer = event["answer"]
                yield writer.text(remainder(sent, answer["text"]))
                yield writer.final(answer)
                if usage:
                    yield writer.usage(answer)
                yield DONE
                return
    except (RequestError, RouterError) as err:
        status = err.status if isinstance(err, RequestError) else 503
        yield sse(openai_error(status, type(err).__name__, str(err), getattr(err, "field", None)))
        return
    except Exception as err:  # the response has started: the error goes in the stream, details in the log
        log.error("stream failed", error=clip(repr(err), 300))
        yield sse(openai_error(500, "internal", "internal error while streaming; see the server log", None))
        return
    log.error("stream ended without an answer")
    yield sse(openai_error(500, "internal", "the stream ended without an answer", None))
