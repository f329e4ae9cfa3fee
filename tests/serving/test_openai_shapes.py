"""OpenAI shapes: which chat requests map to an instruction, the stream chunks, the error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serving.openai_shapes import ChunkWriter, chat_instruction, reshape_error
from serving.routing import RequestError

ANSWER = {
    "expert": "runic",
    "reason": "names LC-R (runic track)",
    "format": "lc-r",
    "text": "🐊1🐂",
    "valid": True,
    "canonical": "🐊1🐂",
    "check_error": None,
    "adapter": "runic__v1",
    "latency_ms": 12.5,
    "finish_reason": "stop",
    "prompt_tokens": 10,
    "completion_tokens": 3,
}


@pytest.mark.parametrize(
    ("messages", "instruction"),
    [
        ([{"role": "user", "content": "Convert to LC-R: 1"}], "Convert to LC-R: 1"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Convert "}, {"type": "text", "text": "1"}],
                }
            ],
            "Convert 1",
        ),
    ],
)
def test_one_user_message_is_the_instruction(messages: list[dict[str, Any]], instruction: str) -> None:
    assert chat_instruction(messages) == instruction


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "messages must hold one user message"),
        (
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "x"}],
            "messages[0] has role",
        ),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "messages[1] has role"),
        ([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}], "messages holds 2 user"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "'image_url' part"),
        ([{"role": "user", "content": None}], "must be a string or a list of text parts"),
    ],
)
def test_what_the_template_cannot_hold_is_refused(messages: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(RequestError, match=message.replace("[", r"\[").replace("]", r"\]")) as refused:
        chat_instruction(messages)
    assert refused.value.field == "messages" and refused.value.status == 422


def events(raw: bytes) -> list[dict[str, Any]]:
    assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
    return json.loads(raw[len(b"data: ") :])


def test_chat_chunks_open_with_the_role_and_close_with_the_verdict() -> None:
    writer = ChunkWriter(chat=True, model="runic")
    opening, text, final = events(writer.opening()), events(writer.text("🐊")), events(writer.final(ANSWER))
    assert {opening["object"], text["object"], final["object"]} == {"chat.completion.chunk"}
    assert opening["id"] == text["id"] == final["id"] and opening["id"].startswith("chatcmpl-")
    assert opening["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text["choices"][0] == {
        "index": 0,
        "delta": {"content": "🐊"},
        "logprobs": None,
        "finish_reason": None,
    }
    assert final["choices"][0]["delta"] == {} and final["choices"][0]["finish_reason"] == "stop"
    assert final["choices"][0]["overnight"]["canonical"] == "🐊1🐂"
    assert writer.text("") == b""  # no empty content chunk
    usage = events(writer.usage(ANSWER))
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 13


def test_completion_chunks_are_text_completions() -> None:
    writer = ChunkWriter(chat=False, model="runic")
    assert writer.opening() == b""
    text = events(writer.text("🐊"))["choices"][0]
    assert text == {"text": "🐊", "index": 0, "logprobs": None, "finish_reason": None}
    final = events(writer.final(ANSWER))
    assert final["object"] == "text_completion" and final["choices"][0]["text"] == ""
    assert final["choices"][0]["overnight"]["valid"] is True


def test_errors_are_reshaped_to_the_openai_shape() -> None:
    ours = {
        "error": {"type": "prompt_too_long", "message": "too long", "field": "prompt"},
        "request_id": "r1",
    }
    assert json.loads(reshape_error(413, json.dumps(ours).encode())) == {
        "error": {
            "message": "too long",
            "type": "invalid_request_error",
            "param": "prompt",
            "code": "prompt_too_long",
        },
        "request_id": "r1",
    }
    unauthorized = {"error": {"type": "unauthorized", "message": "wrong API key", "field": None}}
    assert (
        json.loads(reshape_error(401, json.dumps(unauthorized).encode()))["error"]["type"]
        == "authentication_error"
    )
    framework = json.loads(reshape_error(405, b'{"detail": "Method Not Allowed"}'))
    assert framework["error"]["message"] == "Method Not Allowed"
    assert json.loads(reshape_error(500, b"not json"))["error"]["type"] == "server_error"
