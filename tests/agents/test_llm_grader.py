"""The LLM grader through the real anthropic SDK and a local Messages API server: answers, errors, budget."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agents.grade import letter_for_score
from agents.llm_grader import LLMGrader, LLMGraderConfig
from agents.metrics import MetricWindow
from tests.agents.fake_messages_server import (
    FakeMessagesServer,
    ScriptedResponse,
    error_reply,
    raw_reply,
    text_reply,
    tool_use_reply,
)
from tests.agents.window_factory import make_window

KEY_ENV = {"ANTHROPIC_API_KEY": "sk-test-key"}


def answer(loss: int, accuracy: int, fmt: int, progress: int, *, letter: str | None = None,
           score: float | None = None, rationale: str = "val exact match 85% with smooth loss",
           recommendation: str | None = None) -> dict[str, Any]:
    total = loss + accuracy + fmt + progress
    body: dict[str, Any] = {
        "components": {"loss_convergence": loss, "validation_accuracy": accuracy, "format_correctness": fmt,
                       "progress_consistency": progress},
        "score": total if score is None else score,
        "letter": letter or letter_for_score(total),
        "rationale": rationale,
    }
    if recommendation is not None:
        body["recommendation"] = recommendation
    return body


@pytest.fixture
def server() -> Iterator[FakeMessagesServer]:
    with FakeMessagesServer() as running:
        yield running


@pytest.fixture
def b_window() -> MetricWindow:
    """A window the rubric grades 85 (B): 30 + 20 + 15 + 20."""
    return make_window(exact=0.85, validity=0.97)


def grader_for(server: FakeMessagesServer, env: dict[str, str] | None = None, **overrides: Any) -> LLMGrader:
    settings: dict[str, Any] = {"base_url": server.base_url, "timeout_s": 0.5, "max_retries": 2, **overrides}
    return LLMGrader(LLMGraderConfig(**settings), env=KEY_ENV if env is None else env)


def test_good_grade_is_used_and_the_request_carries_rubric_summary_and_caps(
        server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 23, 15, 20, recommendation="keep going"), input_tokens=1200,
                                  output_tokens=200))
    with grader_for(server, max_tokens=700) as grader:
        grade = grader.grade(b_window)
        budget = grader.budget
    assert (grade.source, grade.score, grade.letter, grade.fallback_reason) == ("llm", 88, "B", None)
    assert grade.recommendation == "keep going"
    assert grade.model == "claude-haiku-4-5"
    assert grade.component("validation_accuracy").points == 23
    assert grade.component("validation_accuracy").reason.endswith("(LLM: 23, rubric: 20)")
    assert grade.component("validation_accuracy").measured == {"exact_match": 0.85}
    assert grade.notes == []
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-test-key"
    body = request.body
    assert body is not None
    assert (body["model"], body["max_tokens"]) == ("claude-haiku-4-5", 700)
    assert body["tool_choice"] == {"type": "tool", "name": "submit_grade", "disable_parallel_tool_use": True}
    assert body["tools"][0]["name"] == "submit_grade"
    assert "100-point rubric" in body["system"]
    assert "at most 10 points" in body["system"]
    user_text = body["messages"][0]["content"]
    assert b_window.summary() in user_text
    assert "Deterministic rubric grade: 85/100 (B)" in user_text
    assert (budget.calls, budget.input_tokens, budget.output_tokens) == (1, 1200, 200)
    assert budget.spent_usd == pytest.approx((1200 * 1.0 + 200 * 5.0) / 1e6)


def test_model_is_configurable(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20)))
    with grader_for(server, model="claude-haiku-9") as grader:
        assert grader.grade(b_window).model == "claude-haiku-9"
    assert server.requests[0].body is not None
    assert server.requests[0].body["model"] == "claude-haiku-9"


def test_json_answer_in_text_is_accepted(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    import json

    server.enqueue(text_reply("```json\n" + json.dumps(answer(30, 20, 15, 20)) + "\n```"))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert (grade.source, grade.score) == ("llm", 85)


def test_malformed_json_answer_falls_back(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(text_reply('{"components": {"loss_convergence": 30,, "score": 85'))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
        assert grader.budget.calls == 1
    assert (grade.source, grade.score, grade.letter) == ("rubric", 85, "B")
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith("invalid JSON: Expecting property name enclosed in double quotes")


def test_response_body_that_is_not_json_falls_back(server: FakeMessagesServer,
                                                    b_window: MetricWindow) -> None:
    server.enqueue(raw_reply(200, b'{"id": "msg_1", "content": [tru'))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.source == "rubric"
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith("invalid JSON in the API response")


@pytest.mark.parametrize(("body", "reason"), [
    (b"{}", "wrong schema: the API response is not a Messages API message with usage"),
    (b"null", "wrong schema: the API response is not a Messages API message with usage (got None)"),
    (b'{"content": "x", "usage": {}}', "wrong schema: the API response is not a Messages API message"),
    (b'{"id": "m", "type": "message", "role": "assistant", "model": "m", '
     b'"content": ["junk", {"type": "odd"}], "stop_reason": "end_turn", '
     b'"usage": {"input_tokens": 5, "output_tokens": 3}}',
     "wrong schema: no submit_grade call and no text in the answer (blocks: ['str', 'odd'], stop_reason: "
     "end_turn)"),
], ids=["empty-object", "null", "no-usage", "odd-blocks"])
def test_json_that_is_not_a_message_falls_back_and_is_still_charged(server: FakeMessagesServer,
                                                                    b_window: MetricWindow, body: bytes,
                                                                    reason: str) -> None:
    server.enqueue(raw_reply(200, body))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
        budget = grader.budget
    assert grade.source == "rubric"
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith(reason), grade.fallback_reason
    assert budget.calls == 1
    assert budget.spent_usd > 0


def test_500_then_success_is_retried_with_backoff(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(error_reply(500, "api_error", "Internal server error"),
                   tool_use_reply(answer(30, 20, 15, 20)))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert (grade.source, grade.score) == ("llm", 85)
    first, second = server.requests
    assert second.headers["x-stainless-retry-count"] == "1"
    # The SDK's first backoff is 0.5 s with up to 25% jitter off.
    assert second.received_at - first.received_at >= 0.35


def test_persistent_500_falls_back_after_all_attempts(server: FakeMessagesServer,
                                                      b_window: MetricWindow) -> None:
    fast_retry = (("retry-after-ms", "10"),)
    server.enqueue(*[error_reply(529, "overloaded_error", "Overloaded", headers=fast_retry)] * 3)
    with grader_for(server, max_retries=2) as grader:
        grade = grader.grade(b_window)
        assert grader.budget.calls == 0
    assert len(server.requests) == 3
    assert grade.source == "rubric"
    assert grade.fallback_reason == "server error (HTTP 529) after 3 attempt(s): Overloaded"


def test_429_honours_retry_after_then_succeeds(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(error_reply(429, "rate_limit_error", "Number of requests exceeds your rate limit",
                               headers=(("retry-after", "0.2"),)),
                   tool_use_reply(answer(30, 20, 15, 20)))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.source == "llm"
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.2


def test_persistent_429_falls_back(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    limited = error_reply(429, "rate_limit_error", "Number of requests exceeds your rate limit",
                          headers=(("retry-after-ms", "10"),))
    server.enqueue(limited, limited)
    with grader_for(server, max_retries=1) as grader:
        grade = grader.grade(b_window)
    assert len(server.requests) == 2
    assert grade.fallback_reason == ("rate limited (HTTP 429) after 2 attempt(s): "
                                     "Number of requests exceeds your rate limit")


def test_timeout_falls_back_after_retrying(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    slow = tool_use_reply(answer(30, 20, 15, 20), delay_s=2.0)
    server.enqueue(slow, slow)
    started = time.monotonic()
    with grader_for(server, timeout_s=0.3, max_retries=1) as grader:
        grade = grader.grade(b_window)
    elapsed = time.monotonic() - started
    assert len(server.requests) == 2
    assert grade.source == "rubric"
    assert grade.fallback_reason == "timeout: no answer within 0.3s per attempt after 2 attempt(s)"
    # Two 0.3 s attempts and one backoff of at most 0.5 s; far below the 2 s the server would take.
    assert elapsed < 1.8


@pytest.mark.parametrize(("status", "error_type", "message"), [
    (400, "invalid_request_error", "max_tokens: must be at most 8192"),
    (401, "authentication_error", "invalid x-api-key"),
    (404, "not_found_error", "model: claude-haiku-0"),
])
def test_4xx_falls_back_without_retrying(server: FakeMessagesServer, b_window: MetricWindow, status: int,
                                         error_type: str, message: str) -> None:
    server.enqueue(error_reply(status, error_type, message))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert len(server.requests) == 1
    assert grade.fallback_reason == f"API error (HTTP {status}): {message}"


def test_network_error_falls_back(b_window: MetricWindow) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = LLMGraderConfig(base_url=f"http://127.0.0.1:{closed_port}", timeout_s=0.5, max_retries=0)
    with LLMGrader(config, env=KEY_ENV) as grader:
        grade = grader.grade(b_window)
    assert grade.source == "rubric"
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith("network error after 1 attempt(s): Connection error")


def test_network_error_is_retried_with_backoff(b_window: MetricWindow) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = LLMGraderConfig(base_url=f"http://127.0.0.1:{closed_port}", timeout_s=0.5, max_retries=1)
    started = time.monotonic()
    with LLMGrader(config, env=KEY_ENV) as grader:
        grade = grader.grade(b_window)
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith("network error after 2 attempt(s)")
    # One SDK backoff (0.5 s less up to 25% jitter) separates the two connection attempts.
    assert time.monotonic() - started >= 0.35


@pytest.mark.parametrize(("tool_input", "reason"), [
    ({"grade": "B", "comment": "fine"}, "missing fields: components, score, letter, rationale"),
    ({**answer(30, 20, 15, 20), "components": {"loss_convergence": 30}},
     "missing fields: components.validation_accuracy, components.format_correctness, "
     "components.progress_consistency"),
    ({**answer(30, 20, 15, 20), "components": [30, 20, 15, 20]}, "wrong schema: components: Input should be"),
    ({**answer(30, 20, 15, 20), "letter": "B+"}, "wrong schema: letter: Input should be 'A', 'B', 'C'"),
    ({**answer(30, 20, 15, 20), "score": 85.5}, "wrong schema: score: Input should be a valid integer"),
], ids=["unrelated-object", "missing-components", "components-as-list", "unknown-letter", "fractional-score"])
def test_wrong_schema_falls_back(server: FakeMessagesServer, b_window: MetricWindow,
                                 tool_input: dict[str, Any], reason: str) -> None:
    server.enqueue(tool_use_reply(tool_input))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.source == "rubric"
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith(reason), grade.fallback_reason


def test_other_tool_falls_back(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20), tool_name="get_weather"))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.fallback_reason == "wrong schema: the model called tool 'get_weather', not 'submit_grade'"


def test_absurd_score_falls_back(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    absurd = answer(30, 20, 15, 20, score=10**9)
    absurd["components"]["loss_convergence"] = 10**9
    server.enqueue(tool_use_reply(absurd))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert (grade.source, grade.score) == ("rubric", 85)
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith(
        "scores out of range: components.loss_convergence = 1000000000 "
        "(Input should be less than or equal to 30); score = 1000000000"
    )


def test_letter_not_matching_score_falls_back(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20, letter="A")))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.fallback_reason == ("letter does not match score: letter 'A' does not match score 85 "
                                     "(expected 'B')")


def test_score_not_matching_components_falls_back(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20, score=95, letter="A")))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.fallback_reason == ("inconsistent answer: score 95 does not equal the sum of component "
                                     "points 85")


def test_score_is_clamped_to_the_allowed_distance_from_the_rubric(server: FakeMessagesServer,
                                                                   b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 30, 20, 20)))
    with grader_for(server, max_score_delta=5) as grader:
        grade = grader.grade(b_window)
    assert (grade.source, grade.score, grade.letter) == ("llm", 90, "A")
    assert grade.notes == ["LLM score 100 clamped to 90: at most 5 points from the rubric's 85"]


def test_llm_cannot_lift_a_hard_fault(server: FakeMessagesServer) -> None:
    faulty = make_window(faults=["non_finite_grad at step 31"])
    server.enqueue(tool_use_reply(answer(30, 30, 20, 20, rationale="looks fine to me")))
    with grader_for(server) as grader:
        grade = grader.grade(faulty)
    assert (grade.source, grade.score, grade.letter) == ("llm", 59, "F")
    assert grade.hard_faults == ["non_finite_grad at step 31"]
    assert grade.notes == ["LLM score 100 clamped to 69: at most 10 points from the rubric's 59",
                           "hard fault: LLM score 69 capped at 59"]


def test_50kb_rationale_is_truncated(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    huge = "x" * 51_200
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20, rationale=huge, recommendation="y" * 600)))
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert grade.source == "llm"
    assert grade.rationale == "x" * 2000 + "… [truncated from 51200 characters]"
    assert grade.recommendation is not None
    assert len(grade.recommendation) < 600
    assert grade.notes == ["rationale truncated from 51200 to 2000 characters",
                           "recommendation truncated from 600 to 500 characters"]


def test_budget_exhaustion_stops_calling(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    # The pre-call worst case (prompt estimate plus 1000 tokens out) is about $0.0064 and is reserved; the
    # answer is billed 1000 in + 900 out tokens = $0.0055. A $0.0100 cap allows the first call; the next
    # would commit $0.0055 + $0.0064 > $0.0100, so it is refused.
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20), input_tokens=1000, output_tokens=900))
    with grader_for(server, budget_usd=0.0100, max_tokens=1000) as grader:
        grades = [grader.grade(b_window) for _ in range(3)]
        budget = grader.budget.snapshot()
    assert [g.source for g in grades] == ["llm", "rubric", "rubric"]
    assert len(server.requests) == 1
    assert (budget.calls, budget.refused, budget.reservations) == (1, 2, {})
    assert budget.spent_usd == pytest.approx(0.0055)
    assert grades[1].fallback_reason is not None
    assert grades[1].fallback_reason.startswith("budget exhausted: spent $0.0055 of $0.0100; the next call "
                                                "could cost up to $0.00")


def test_zero_budget_never_calls(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    with grader_for(server, budget_usd=0.0) as grader:
        grade = grader.grade(b_window)
    assert server.requests == []
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith("budget exhausted: spent $0.0000 of $0.0000")


def test_no_key_falls_back_without_calling(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    with grader_for(server, env={}) as grader:
        grade = grader.grade(b_window)
    assert server.requests == []
    assert grade.fallback_reason == ("no API key: environment variable ANTHROPIC_API_KEY is not set "
                                     "(set it to enable the LLM grader)")


def test_key_variable_is_configurable(server: FakeMessagesServer, b_window: MetricWindow) -> None:
    server.enqueue(tool_use_reply(answer(30, 20, 15, 20)))
    with grader_for(server, env={"GRADER_KEY": "sk-other"}, api_key_env="GRADER_KEY") as grader:
        assert grader.grade(b_window).source == "llm"
    assert server.requests[0].headers["authorization"] == "Bearer sk-other"


def test_disabled_grader_is_the_rubric_without_a_fallback_reason(server: FakeMessagesServer,
                                                                  b_window: MetricWindow) -> None:
    with grader_for(server, enabled=False) as grader:
        grade = grader.grade(b_window)
    assert (grade.source, grade.fallback_reason, grade.model) == ("rubric", None, None)
    assert server.requests == []


def test_scripted_server_refuses_requests_without_a_key(server: FakeMessagesServer) -> None:
    import httpx

    response = httpx.post(f"{server.base_url}/v1/messages", json={"model": "m"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_unscripted_request_is_answered_with_a_non_retryable_400(server: FakeMessagesServer,
                                                                  b_window: MetricWindow) -> None:
    with grader_for(server) as grader:
        grade = grader.grade(b_window)
    assert len(server.requests) == 1
    assert grade.fallback_reason == "API error (HTTP 400): fake server: no scripted response left"


def test_scripted_response_type_is_plain_data() -> None:
    reply = ScriptedResponse(status=200, body=b"{}")
    assert (reply.headers, reply.delay_s) == ((), 0.0)
