"""Tests of the LLM answer checks, the tool schema, the prompt and the budget arithmetic, without a server."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from agents.budget import Budget, cost_usd, estimate_input_tokens
from agents.grade import COMPONENT_MAX_POINTS
from agents.llm_answer import (
    AnswerRejected,
    LLMAnswer,
    parse_text_answer,
    parse_tool_input,
    submit_grade_tool,
)
from agents.llm_grader import LLMGraderConfig, truncate
from agents.llm_prompt import rubric_rules, system_prompt, user_prompt
from agents.rubric import RubricThresholds, grade_with_rubric
from tests.agents.window_factory import make_window

GOOD = {"components": {"loss_convergence": 30, "validation_accuracy": 25, "format_correctness": 20,
                       "progress_consistency": 15}, "score": 90, "letter": "A", "rationale": "fine"}


def test_tool_schema_mirrors_the_answer_model() -> None:
    schema = submit_grade_tool()["input_schema"]
    required = {name for name, field in LLMAnswer.model_fields.items() if field.is_required()}
    assert set(schema["required"]) == required
    components = schema["properties"]["components"]["properties"]
    assert {name: spec["maximum"] for name, spec in components.items()} == COMPONENT_MAX_POINTS


def test_good_answer_parses_and_extra_keys_are_ignored() -> None:
    parsed = parse_tool_input({**GOOD, "confidence": 0.9})
    assert (parsed.score, parsed.letter, parsed.recommendation) == (90, "A", None)


def test_non_object_tool_input_is_rejected() -> None:
    with pytest.raises(AnswerRejected, match="wrong schema: tool input is list, expected an object"):
        parse_tool_input([1, 2])


def test_text_answer_in_a_fence_parses() -> None:
    assert parse_text_answer("```json\n" + json.dumps(GOOD) + "\n```").score == 90


def test_text_answer_that_is_not_json_names_the_position() -> None:
    with pytest.raises(AnswerRejected, match=r"invalid JSON: Expecting value at line 1 column 1 in 'I think"):
        parse_text_answer("I think B")


def test_negative_component_is_out_of_range() -> None:
    bad = {**GOOD, "components": {**GOOD["components"], "format_correctness": -5}}
    with pytest.raises(AnswerRejected, match=r"scores out of range: components.format_correctness = -5"):
        parse_tool_input(bad)


def test_empty_rationale_is_rejected() -> None:
    with pytest.raises(AnswerRejected, match="wrong schema: rationale: String should have at least 1 char"):
        parse_tool_input({**GOOD, "rationale": ""})


def test_truncate_leaves_short_text_alone_and_notes_long_text() -> None:
    notes: list[str] = []
    assert truncate("short", 10, "rationale", notes) == "short"
    assert truncate("a" * 12, 10, "rationale", notes) == "a" * 10 + "… [truncated from 12 characters]"
    assert notes == ["rationale truncated from 12 to 10 characters"]


def test_prompt_quotes_the_thresholds_in_force_and_the_rubric_grade() -> None:
    thresholds = RubricThresholds(spike_ratio=3.0, plateau_epochs=4)
    assert "> 3.0 x the median of the previous 5" in rubric_rules(thresholds)
    assert "plateau: 4 flat epochs in a row" in rubric_rules(thresholds)
    assert "at most 7 points" in system_prompt(thresholds, 7, 2000)
    window = make_window(exact=0.85)
    text = user_prompt(window, grade_with_rubric(window))
    assert "Deterministic rubric grade: 90/100 (A)" in text
    assert "- validation_accuracy: 20/30 (exact match 85.0% is 80%-90%); measured: exact_match=0.85" in text


def test_config_defaults_and_unknown_keys() -> None:
    config = LLMGraderConfig()
    assert (config.model, config.api_key_env) == ("claude-haiku-4-5", "ANTHROPIC_API_KEY")
    assert config.base_url is None
    with pytest.raises(ValidationError, match="budget_dollars"):
        LLMGraderConfig(budget_dollars=2.0)
    with pytest.raises(ValidationError, match="timeout_s"):
        LLMGraderConfig(timeout_s=0)


def test_budget_reserves_settles_and_releases_in_memory() -> None:
    budget = Budget(limit_usd=0.01)
    assert cost_usd(1_000_000, 0, 1.0, 5.0) == 1.0
    assert estimate_input_tokens(10) == 4
    first = budget.reserve(0.006)
    assert first is not None
    # Exactly at the cap is allowed; a hair above it is refused (and counted).
    assert budget.reserve(0.0041) is None
    second = budget.reserve(0.004)
    assert second is not None
    assert budget.snapshot().committed_usd == pytest.approx(0.01)
    budget.release(second)
    assert budget.settle(first, 2000, 400, 1.0, 5.0) is None
    state = budget.snapshot()
    assert (state.calls, state.refused, state.input_tokens, state.output_tokens) == (1, 1, 2000, 400)
    assert (state.spent_usd, state.reservations) == (pytest.approx(0.004), {})
