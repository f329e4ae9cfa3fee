"""The OpenAI API's shapes, pure: chat messages to an instruction, completions, stream chunks, errors."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from serving.routing import RequestError

# The router's verdict on an answer, carried under `overnight` in each choice (the final chunk's, when
# streamed): OpenAI clients keep unknown fields, so nothing else in the response changes for them.
VERDICT_KEYS = ("expert", "reason", "format", "valid", "canonical", "check_error", "adapter", "latency_ms")
DONE = b"data: [DONE]\n\n"
# OpenAI error types by status; the client picks its exception class from the status alone.
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


def verdict(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: answer.get(key) for key in VERDICT_KEYS}


def usage(answers: list[dict[str, Any]]) -> dict[str, int]:
    prompt_tokens = sum(answer["prompt_tokens"] for answer in answers)
    completion_tokens = sum(answer["completion_tokens"] for answer in answers)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def completion_response(answers: list[dict[str, Any]], requested: str) -> dict[str, Any]:
    """An OpenAI text_completion object; each choice also carries the router's verdict under `overnight`."""
    experts = {answer["expert"] for answer in answers}
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": experts.pop() if len(experts) == 1 else requested,
        "choices": [
            {
                "text": answer["text"],
                "index": index,
                "logprobs": None,
                "finish_reason": answer["finish_reason"],
                "overnight": verdict(answer),
            }
            for index, answer in enumerate(answers)
        ],
        "usage": usage(answers),
    }


def chat_response(answer: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat.completion object with one choice, the verdict under `choices[0].overnight`."""
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer["expert"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer["text"]},
                "logprobs": None,
                "finish_reason": answer["finish_reason"],
                "overnight": verdict(answer),
            }
        ],
        "usage": usage([answer]),
    }


def chat_instruction(messages: list[dict[str, Any]]) -> str:
    """The instruction a chat request carries: the content of its one user message. The experts were
    trained on one instruction in the seeds' prompt template (hlx.corpus_io.prompt_text), which has no
    place for a system prompt or earlier turns, so those are refused rather than silently dropped."""
    if not messages:
        raise RequestError("messages must hold one user message", "messages")
    for index, message in enumerate(messages):
        role = message.get("role")
        if role != "user":
            raise RequestError(
                f"messages[{index}] has role {role!r}: the experts answer one instruction in their training "
                "template, which has no place for it; send a single user message",
                "messages",
            )
    if len(messages) > 1:
        raise RequestError(
            f"messages holds {len(messages)} user messages; the experts answer one instruction: "
            "send a single user message",
            "messages",
        )
    return _text_of(messages[0].get("content"))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            text = part.get("text") if isinstance(part, dict) else None
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(text, str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RequestError(
                    f"messages[0].content[{index}] is a {kind!r} part; only text parts are accepted",
                    "messages",
                )
            texts.append(text)
        return "".join(texts)
    raise RequestError("messages[0].content must be a string or a list of text parts", "messages")


class ChunkWriter:
    """Server-sent events of one streamed answer, in the OpenAI chunk shapes: `text_completion` chunks
    for /v1/completions, `chat.completion.chunk` with a `delta` for /v1/chat/completions (the first one
    with the role). The last chunk holds finish_reason and the verdict under `choices[0].overnight`."""

    def __init__(self, chat: bool, model: str) -> None:
        self.chat = chat
        self.model = model
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())

    def _chunk(self, choice: dict[str, Any], **extra: Any) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice] if choice else [],
            **extra,
        }
        return sse(body)

    def _choice(self, text: str | None, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        if self.chat:
            delta = {} if text is None else {"content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason, **extra}
        return {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish_reason, **extra}

    def opening(self) -> bytes:
        """The chat stream's first chunk (the assistant role); completions have none."""
        if not self.chat:
            return b""
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None}
        return self._chunk({**choice, "finish_reason": None})

    def text(self, delta: str) -> bytes:
        return self._chunk(self._choice(delta)) if delta else b""

    def final(self, answer: dict[str, Any]) -> bytes:
        return self._chunk(self._choice(None, answer["finish_reason"], overnight=verdict(answer)))

    def usage(self, answer: dict[str, Any]) -> bytes:
        """The extra chunk `stream_options: {"include_usage": true}` asks for: no choices, the usage."""
        return self._chunk({}, usage=usage([answer]))


def sse(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def openai_error(status: int, kind: str, message: str, field: str | None) -> dict[str, Any]:
    """{"error": {"message", "type", "param", "code"}}: `type` the OpenAI class of the status, `code` this
    server's own error type (prompt_too_long, unauthorized, ...), `param` the field at fault."""
    fallback = "server_error" if status >= 500 else "invalid_request_error"
    kind_of = _ERROR_TYPES.get(status, fallback)
    return {"error": {"message": message, "type": kind_of, "param": field, "code": kind}}


def reshape_error(status: int, payload: bytes) -> bytes:
    """This server's error body ({"error": {"type", "message", "field"}, ...extras}) in the OpenAI shape;
    a body of another shape (a framework's own 404 or 405) keeps its message."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        shaped = openai_error(status, str(error.get("type")), str(error.get("message")), error.get("field"))
        extras = {k: v for k, v in body.items() if k not in ("error", "detail")}
    else:
        detail = body.get("detail") if isinstance(body, dict) else None
        message = detail if isinstance(detail, str) else f"HTTP {status}"
        shaped, extras = openai_error(status, "http_error", message, None), {}
    return json.dumps({**shaped, **extras}).encode("utf-8")
