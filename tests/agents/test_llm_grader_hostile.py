"""The LLM grader through the real anthropic SDK against a hostile Messages API (issue 12, section 2).

Each test names the promise it holds: grade() never raises, ends by its deadline, never spends past the cap,
bounds every text it records, and refuses answers that are cut off, doubled or loosely typed.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from agents.bounded import MAX_REASON_CHARS
from agents.grade import Grade
from agents.llm_grader import LLMGrader, LLMGraderConfig
from agents.metrics import MetricWindow
from tests.agents.hostile_messages_server import (
    NEST_MARK,
    HostileMessagesServer,
    Reply,
    api_error,
    grade_call,
    html_page,
    message,
    nested,
    rate_limited,
    text_block,
    trickled,
)
from tests.agents.test_llm_grader import answer
from tests.agents.window_factory import make_window

KEY_ENV = {"ANTHROPIC_API_KEY": "sk-hostile-test"}
GOOD = answer(30, 20, 15, 20)
# The longest bounded text: MAX_REASON_CHARS kept, then the note "… [truncated from N characters]".
LONGEST_REASON = MAX_REASON_CHARS + len("… [truncated from 9999999 characters]")


@pytest.fixture
def window() -> MetricWindow:
    """A window the rubric grades 85 (B)."""
    return make_window(exact=0.85, validity=0.97)


def grade_against(*replies: Reply, window: MetricWindow, **settings: Any) -> tuple[Grade, LLMGrader,
                                                                                   HostileMessagesServer]:
    """One grade against a hostile server playing `replies`; the server is stopped when this returns."""
    with HostileMessagesServer(*replies) as server:
        config = LLMGraderConfig(**{"base_url": server.url, "timeout_s": 5.0, "max_retries": 0, **settings})
        with LLMGrader(config, env=KEY_ENV) as grader:
            return grader.grade(window), grader, server


def assert_fell_back(grade: Grade, reason_start: str) -> str:
    assert grade.source == "rubric", grade
    assert grade.fallback_reason is not None
    assert grade.fallback_reason.startswith(reason_start), grade.fallback_reason
    assert len(grade.fallback_reason) <= LONGEST_REASON
    return grade.fallback_reason


# ------------------------------------------------------------------------------------- never raises


@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize(("reply", "reason"), [
    (lambda depth: message([text_block(nested(depth))], stop_reason="end_turn"),
     "invalid JSON: nested deeper than the parser allows (RecursionError) in '[[["),
    (lambda depth: message([grade_call(NEST_MARK)], nest_depth=depth),
     "invalid JSON in the API response: nested deeper than the parser allows (RecursionError)"),
    (lambda depth: message([grade_call({**GOOD, "score": NEST_MARK})], nest_depth=depth),
     "invalid JSON in the API response: nested deeper than the parser allows (RecursionError)"),
], ids=["text-block", "tool-input", "tool-field"])
def test_deeply_nested_json_falls_back_instead_of_raising(window: MetricWindow, depth: int, reply: Any,
                                                          reason: str) -> None:
    grade, _, _ = grade_against(reply(depth), window=window)
    assert_fell_back(grade, reason)


def test_nesting_just_parseable_in_a_field_is_a_wrong_schema(window: MetricWindow) -> None:
    # 900 levels parse, but quoting the bad value for the reason would recurse too deep.
    grade, grader, _ = grade_against(message([grade_call({**GOOD, "score": NEST_MARK})], nest_depth=900),
                                     window=window)
    assert_fell_back(grade, "wrong schema: score: Input should be a valid integer")
    assert grader.budget.calls == 1


# -------------------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize(("header", "value", "asked"), [
    ("retry-after", "3600", "3600"),
    ("retry-after", "inf", "inf"),
    ("retry-after", "nan", "inf"),
    ("retry-after-ms", "3600000", "3600"),
])
def test_retry_after_beyond_the_cap_is_not_waited(window: MetricWindow, header: str, value: str,
                                                  asked: str) -> None:
    started = time.monotonic()
    grade, _, server = grade_against(rate_limited(value, header), window=window, max_retries=3,
                                     max_retry_after_s=30.0)
    assert time.monotonic() - started < 5.0
    assert len(server.arrivals) == 1
    assert grade.fallback_reason == (f"rate limited (HTTP 429) after 1 attempt(s): slow down; the server "
                                     f"asked to wait {asked} s before retrying, more than max_retry_after_s "
                                     f"(30 s)")


def test_retry_after_at_the_cap_is_honoured_and_just_above_it_is_not(window: MetricWindow) -> None:
    honoured, _, server = grade_against(rate_limited("1"), message([grade_call(GOOD)]), window=window,
                                        max_retries=1, max_retry_after_s=1.0)
    assert honoured.source == "llm"
    first, second = server.arrivals
    assert second - first >= 1.0
    refused, _, server = grade_against(rate_limited("1.01"), message([grade_call(GOOD)]), window=window,
                                       max_retries=1, max_retry_after_s=1.0)
    assert_fell_back(refused, "rate limited (HTTP 429) after 1 attempt(s): slow down; the server asked to "
                              "wait 1.01 s before retrying, more than max_retry_after_s (1 s)")
    assert len(server.arrivals) == 1


def test_a_wait_that_would_pass_the_deadline_is_not_taken(window: MetricWindow) -> None:
    started = time.monotonic()
    grade, _, server = grade_against(rate_limited("5"), message([grade_call(GOOD)]), window=window,
                                     max_retries=1, deadline_s=2.0)
    assert time.monotonic() - started < 2.0
    assert len(server.arrivals) == 1
    assert grade.fallback_reason == ("rate limited (HTTP 429) after 1 attempt(s): slow down; waiting 5 s to "
                                     "retry would pass the grade's deadline (2 s)")


def test_a_body_trickled_at_one_byte_a_second_ends_at_the_deadline(window: MetricWindow) -> None:
    slow = trickled(message([grade_call(GOOD)]), byte_interval_s=1.0)
    with HostileMessagesServer(slow) as server:
        config = LLMGraderConfig(base_url=server.url, timeout_s=30.0, max_retries=0, deadline_s=2.0)
        with LLMGrader(config, env=KEY_ENV) as grader:
            started = time.monotonic()
            grade = grader.grade(window)
            elapsed = time.monotonic() - started
            assert_fell_back(grade, "deadline: no answer within the grade's deadline of 2 s")
            assert 2.0 <= elapsed < 3.0
            # The abandoned attempt stops reading by itself soon after, and nothing was billed.
            waited = time.monotonic() + 5.0
            while grader.budget.reserved_usd and time.monotonic() < waited:
                time.sleep(0.05)
            state = grader.budget.snapshot()
            assert (state.reservations, state.spent_usd, state.calls) == ({}, 0.0, 0)
            assert server.bytes_written(0) < len(slow.body)


def test_an_attempt_is_bounded_as_a_whole_not_per_read(window: MetricWindow) -> None:
    # Every byte arrives well within any read timeout; the whole attempt still ends after timeout_s.
    slow = trickled(message([grade_call(GOOD)]), byte_interval_s=0.05)
    started = time.monotonic()
    grade, _, _ = grade_against(slow, window=window, timeout_s=1.0, deadline_s=20.0)
    assert_fell_back(grade, "timeout: no answer within 1.0s per attempt after 1 attempt(s)")
    assert time.monotonic() - started < 3.0


# ------------------------------------------------------------------------------------------ budget


def test_a_huge_reported_usage_is_an_anomaly_not_spending(window: MetricWindow) -> None:
    huge = message([grade_call(GOOD)], input_tokens=10**9, output_tokens=10**6)
    with HostileMessagesServer(huge, message([grade_call(GOOD)])) as server:
        config = LLMGraderConfig(base_url=server.url, max_retries=0, budget_usd=1.0)
        with LLMGrader(config, env=KEY_ENV) as grader:
            first, second = grader.grade(window), grader.grade(window)
            state = grader.budget.snapshot()
    # $1005 reported; at most the reservation (under a cent) is charged, and the grader stays on.
    assert (first.source, second.source) == ("llm", "llm")
    assert state.spent_usd < 0.02
    assert (state.calls, state.anomaly_count, state.input_tokens) == (2, 1, 900)
    assert len(first.notes) == 1
    assert first.notes[0].startswith("usage anomaly: the API reported 1000000000 input and 1000000 output "
                                     "tokens ($1005.0000), above the $0.0")
    assert state.anomalies == first.notes


def test_usage_just_above_the_estimate_never_passes_the_cap(window: MetricWindow) -> None:
    # The cap is $0.0070 and the call reserves a little less; the API then reports $0.0072 (3% above the
    # cap, more above the reservation). Spending stays within the cap.
    over = message([grade_call(GOOD)], input_tokens=2200, output_tokens=1000)
    grade, grader, _ = grade_against(over, window=window, budget_usd=0.0070, max_tokens=1000)
    state = grader.budget.snapshot()
    assert grade.source == "llm"
    assert 0.0 < state.spent_usd <= 0.0070
    assert state.anomaly_count == 1
    assert grade.notes[0].startswith("usage anomaly: the API reported 2200 input and 1000 output tokens "
                                     "($0.0072)")


@pytest.mark.parametrize(("reply", "reason"), [
    (html_page(200, "Service Unavailable"), "wrong schema: the API response is not JSON (got '<html>"),
    (html_page(502), "server error (HTTP 502) after 1 attempt(s): <html>"),
], ids=["html-200", "html-502"])
def test_an_html_page_is_not_a_billed_answer(window: MetricWindow, reply: Reply, reason: str) -> None:
    grade, grader, _ = grade_against(reply, window=window)
    assert_fell_back(grade, reason)
    state = grader.budget.snapshot()
    assert (state.spent_usd, state.calls, state.reservations) == (0.0, 0, {})


@pytest.mark.parametrize("usage", [{"input_tokens": "900", "output_tokens": 150},
                                   {"input_tokens": True, "output_tokens": 150}], ids=["string", "bool"])
def test_unreadable_usage_is_charged_at_the_reservation(window: MetricWindow, usage: dict[str, Any]) -> None:
    grade, grader, _ = grade_against(message([grade_call(GOOD)], **usage), window=window, budget_usd=1.0)
    assert_fell_back(grade, "wrong schema: the API response is not a Messages API message with usage")
    state = grader.budget.snapshot()
    assert state.calls == 1
    assert 0.0 < state.spent_usd < 0.02


# ------------------------------------------------------------------------------------ bounded texts


@pytest.mark.parametrize(("reply", "reason"), [
    (api_error(400, "invalid_request_error", "e" * 2_000_000), "API error (HTTP 400): eeee"),
    (api_error(503, "overloaded_error", "o" * 2_000_000), "server error (HTTP 503) after 1 attempt(s): oooo"),
    (message([grade_call(GOOD, name="n" * 2_000_000)]), "wrong schema: the model called tool 'nnnn"),
    (message([text_block("t" * 2_000_000)], stop_reason="end_turn"), "invalid JSON: Expecting value"),
    (html_page(200, "h" * 2_000_000), "wrong schema: the API response is not JSON (got '<html>"),
], ids=["error-message", "5xx-message", "tool-name", "text", "html"])
def test_two_megabyte_texts_give_a_bounded_reason(window: MetricWindow, reply: Reply, reason: str) -> None:
    grade, _, _ = grade_against(reply, window=window)
    text = assert_fell_back(grade, reason)
    assert "truncated from" in text or "…" in text


def test_two_megabyte_rationale_is_cut_to_its_limit(window: MetricWindow) -> None:
    grade, _, _ = grade_against(message([grade_call({**GOOD, "rationale": "r" * 2_000_000})]), window=window,
                                max_rationale_chars=300)
    assert grade.source == "llm"
    assert grade.rationale == "r" * 300 + "… [truncated from 2000000 characters]"


# -------------------------------------------------------------------------------------- bad answers


@pytest.mark.parametrize("second", [answer(30, 30, 20, 20), GOOD], ids=["conflicting", "agreeing"])
def test_two_submit_grade_calls_are_inconsistent(window: MetricWindow, second: dict[str, Any]) -> None:
    doubled = message([grade_call(GOOD, call_id="toolu_1"), grade_call(second, call_id="toolu_2")])
    grade, _, _ = grade_against(doubled, window=window)
    assert grade.fallback_reason == ("inconsistent answer: 2 tool calls ('submit_grade', 'submit_grade'); "
                                     "exactly one submit_grade call is required")


@pytest.mark.parametrize("stop_reason", ["max_tokens", "refusal"])
def test_a_cut_off_answer_is_not_used(window: MetricWindow, stop_reason: str) -> None:
    cut = message([grade_call({**GOOD, "rationale": "val exact match 85% with sm"})], stop_reason=stop_reason)
    grade, _, _ = grade_against(cut, window=window)
    assert grade.fallback_reason == (f"incomplete answer: stop_reason '{stop_reason}' (the answer was cut "
                                     f"off or not given; max_tokens may be too low)")


@pytest.mark.parametrize(("change", "reason"), [
    ({"score": "85"}, "wrong schema: score: Input should be a valid integer"),
    ({"score": 85.0}, "wrong schema: score: Input should be a valid integer"),
    ({"components": {**GOOD["components"], "format_correctness": "15"}},
     "wrong schema: components.format_correctness: Input should be a valid integer"),
    ({"components": {**GOOD["components"], "format_correctness": True}},
     "wrong schema: components.format_correctness: Input should be a valid integer"),
    ({"rationale": 42}, "wrong schema: rationale: Input should be a valid string"),
], ids=["score-string", "score-float", "component-string", "component-bool", "rationale-int"])
def test_loosely_typed_answers_are_rejected(window: MetricWindow, change: dict[str, Any],
                                            reason: str) -> None:
    grade, _, _ = grade_against(message([grade_call({**GOOD, **change})]), window=window)
    assert_fell_back(grade, reason)


def test_the_hostile_server_answers_unplanned_requests_with_a_final_400(window: MetricWindow) -> None:
    grade, _, server = grade_against(window=window)
    assert grade.fallback_reason == "API error (HTTP 400): hostile server: no reply planned"
    assert len(server.arrivals) == 1

