"""The LLM grader's structured answer: the `submit_grade` tool, its strict pydantic check, error wording.

An answer is used only when it is exactly one `submit_grade` call (or, failing a tool call, one JSON object in
text) whose integers are integers, that was not cut off (`stop_reason: max_tokens`), and whose points, score
and letter agree. Whatever the model sent, the rejection reason is bounded and nesting cannot raise.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.bounded import bounded, quote
from agents.grade import COMPONENT_MAX_POINTS, Letter, letter_for_score

TOOL_NAME = "submit_grade"
COMPLETE_STOP_REASONS = frozenset({"tool_use", "end_turn", "stop_sequence"})
"""Stop reasons of a finished answer; any other (max_tokens, refusal, pause_turn...) is not used."""

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


class ComponentScores(BaseModel):
    """Points per rubric component; each within 0..its maximum. Strict: "20", 20.0 or true is not 20."""

    model_config = ConfigDict(extra="ignore", strict=True)

    loss_convergence: int = Field(ge=0, le=COMPONENT_MAX_POINTS["loss_convergence"])
    validation_accuracy: int = Field(ge=0, le=COMPONENT_MAX_POINTS["validation_accuracy"])
    format_correctness: int = Field(ge=0, le=COMPONENT_MAX_POINTS["format_correctness"])
    progress_consistency: int = Field(ge=0, le=COMPONENT_MAX_POINTS["progress_consistency"])

    def total(self) -> int:
        return (self.loss_convergence + self.validation_accuracy + self.format_correctness
                + self.progress_consistency)


class LLMAnswer(BaseModel):
    """What `submit_grade` must carry. Extra keys are ignored; everything else is checked, strictly."""

    model_config = ConfigDict(extra="ignore", strict=True)

    components: ComponentScores
    score: int = Field(ge=0, le=100)
    letter: Letter
    rationale: str = Field(min_length=1)
    recommendation: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LLMAnswer:
        total = self.components.total()
        if self.score != total:
            raise ValueError(f"score {self.score} does not equal the sum of component points {total}")
        expected = letter_for_score(self.score)
        if self.letter != expected:
            raise ValueError(
                f"letter {self.letter!r} does not match score {self.score} (expected {expected!r})"
            )
        return self


def submit_grade_tool() -> dict[str, Any]:
    """The tool definition sent with every request; mirrors `LLMAnswer`."""
    component_properties = {
        name: {"type": "integer", "minimum": 0, "maximum": max_points,
               "description": f"points for {name.replace('_', ' ')}, 0..{max_points}"}
        for name, max_points in COMPONENT_MAX_POINTS.items()
    }
    return {
        "name": TOOL_NAME,
        "description": "Submit the grade of the metric window on the 100-point rubric.",
        "input_schema": {
            "type": "object",
            "properties": {
                "components": {"type": "object", "properties": component_properties,
                               "required": list(COMPONENT_MAX_POINTS)},
                "score": {"type": "integer", "minimum": 0, "maximum": 100,
                          "description": "sum of the component points"},
                "letter": {"type": "string", "enum": ["A", "B", "C", "D", "F"],
                           "description": "A >= 90, B >= 80, C >= 70, D >= 60, F < 60, from score"},
                "rationale": {"type": "string", "description": "why, quoting the numbers; a few sentences"},
                "recommendation": {"type": "string", "description": "optional: what the operator should do"},
            },
            "required": ["components", "score", "letter", "rationale"],
        },
    }


def tool_choice() -> dict[str, Any]:
    """Force exactly one `submit_grade` call (two calls are then a misbehaving answer, not a choice)."""
    return {"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True}


class AnswerRejected(ValueError):
    """The model's answer cannot be used; `reason` is the fallback reason recorded on the grade."""

    def __init__(self, reason: str) -> None:
        reason = bounded(reason)
        super().__init__(reason)
        self.reason = reason


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(answer)"


def explain_validation_error(error: ValidationError) -> str:
    """One fallback reason naming the worst problem class: missing > out of range > inconsistent > schema."""
    details = error.errors(include_url=False)
    missing = [_field(d["loc"]) for d in details if d["type"] == "missing"]
    if missing:
        return f"missing fields: {', '.join(missing)}"
    out_of_range = [d for d in details if d["type"] in _RANGE_ERRORS]
    if out_of_range:
        parts = [f"{_field(d['loc'])} = {quote(d.get('input'), 40)} ({d['msg']})"
                 for d in out_of_range]
        return f"scores out of range: {'; '.join(parts)}"
    inconsistent = [d for d in details if d["type"] == "value_error"]
    if inconsistent:
        message = inconsistent[0]["msg"].removeprefix("Value error, ")
        if "letter" in message:
            return f"letter does not match score: {message}"
        return f"inconsistent answer: {message}"
    parts = [f"{_field(d['loc'])}: {d['msg']}" for d in details]
    return bounded(f"wrong schema: {'; '.join(parts)}")


def parse_tool_input(tool_input: object) -> LLMAnswer:
    """Validate a `submit_grade` input; raises AnswerRejected with the fallback reason."""
    if not isinstance(tool_input, dict):
        raise AnswerRejected(f"wrong schema: tool input is {type(tool_input).__name__}, expected an object")
    try:
        return LLMAnswer.model_validate(tool_input)
    except ValidationError as error:
        raise AnswerRejected(explain_validation_error(error)) from error
    except RecursionError as error:
        raise AnswerRejected("wrong schema: the tool input is nested deeper than the checker allows "
                             "(RecursionError)") from error


def parse_text_answer(text: str) -> LLMAnswer:
    """Accept a JSON object written as text (optionally in a ``` fence) when the model skipped the tool."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        decoded = json.loads(stripped)
    except json.JSONDecodeError as error:
        raise AnswerRejected(
            f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno} in {bounded(text, 80)!r}"
        ) from error
    except RecursionError as error:
        raise AnswerRejected(f"invalid JSON: nested deeper than the parser allows (RecursionError) in "
                             f"{bounded(text, 80)!r}") from error
    return parse_tool_input(decoded)


def answer_from_message(message: object) -> LLMAnswer:
    """The answer carried by a Messages API message; AnswerRejected when it is cut off, doubled or malformed.

    getattr throughout: the SDK does not validate responses strictly, so blocks can be anything.
    """
    stop_reason = getattr(message, "stop_reason", None)
    blocks = getattr(message, "content", None)
    blocks = blocks if isinstance(blocks, list) else []
    if not isinstance(stop_reason, str) or stop_reason not in COMPLETE_STOP_REASONS:
        raise AnswerRejected(f"incomplete answer: stop_reason {quote(stop_reason, 40)} (the answer "
                             f"was cut off or not given; max_tokens may be too low)")
    calls = [block for block in blocks if getattr(block, "type", None) == "tool_use"]
    if len(calls) > 1:
        names = bounded(", ".join(quote(getattr(call, "name", None)) for call in calls), 100)
        raise AnswerRejected(f"inconsistent answer: {len(calls)} tool calls ({names}); exactly one "
                             f"{TOOL_NAME} call is required")
    if calls:
        name = getattr(calls[0], "name", None)
        if name != TOOL_NAME:
            raise AnswerRejected(f"wrong schema: the model called tool {quote(name)}, "
                                 f"not {TOOL_NAME!r}")
        return parse_tool_input(getattr(calls[0], "input", None))
    texts = [block.text for block in blocks
             if getattr(block, "type", None) == "text" and isinstance(getattr(block, "text", None), str)]
    if not texts:
        kinds = quote([getattr(block, "type", type(block).__name__) for block in blocks], 100)
        raise AnswerRejected(f"wrong schema: no {TOOL_NAME} call and no text in the answer "
                             f"(blocks: {kinds}, stop_reason: {stop_reason})")
    return parse_text_answer("\n".join(texts))
