"""The Claude Haiku grader on the anthropic SDK: it refines the rubric's grade, falling back to it on failure.

Guarantees, whatever the API answers:
- the rubric always runs first; on no key, network error, timeout, 4xx, 5xx/429 after retries, malformed
  JSON, a response that is not a message, missing fields, out-of-range scores, a letter that does not match
  the score, or an exhausted budget the grade is the rubric's, with `fallback_reason` saying which;
- the LLM's score is clamped to within `max_score_delta` of the rubric's (recorded in `notes`);
- a hard fault keeps the grade at F;
- the rationale and recommendation are truncated to the configured lengths (recorded in `notes`).
Retries and backoff are the SDK's own (`max_retries`: 429, 408, 409, 5xx and connection errors, honouring
`retry-after`); `timeout_s` applies to each attempt, so the worst case is about
(max_retries + 1) × timeout_s plus the backoff (0.5 s, 1 s, 2 s ... at most 8 s).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import anthropic
from anthropic.types import Message
from pydantic import BaseModel, ConfigDict, Field

from agents.budget import Budget, cost_usd, estimate_input_tokens
from agents.grade import Component, Grade, letter_for_score
from agents.llm_answer import (
    TOOL_NAME,
    AnswerRejected,
    LLMAnswer,
    parse_text_answer,
    parse_tool_input,
    submit_grade_tool,
)
from agents.llm_prompt import system_prompt, user_prompt
from agents.metrics import MetricWindow
from agents.rubric import RubricThresholds, grade_with_rubric

DEFAULT_MODEL = "claude-haiku-4-5"


class LLMGraderConfig(BaseModel):
    """Settings of the LLM grader; all have safe defaults. The key itself is read from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="False: grade with the rubric only, never call the API.")
    model: str = Field(default=DEFAULT_MODEL, min_length=1, description="Anthropic model id.")
    api_key_env: str = Field(default="ANTHROPIC_API_KEY", min_length=1,
                             description="Environment variable holding the API key; unset means rubric only.")
    base_url: str | None = Field(default=None, description="API base URL; None means the SDK's default.")
    timeout_s: float = Field(default=20.0, gt=0.0, description="Timeout of each attempt, in seconds.")
    max_retries: int = Field(default=2, ge=0, le=10, description="SDK retries: 429, 5xx, network.")
    max_tokens: int = Field(default=1024, ge=16, le=8192, description="Cap on the answer's tokens.")
    budget_usd: float = Field(default=1.0, ge=0.0, description="Spending cap for the run, in USD.")
    price_in_per_mtok: float = Field(default=1.0, ge=0.0, description="USD per million input tokens.")
    price_out_per_mtok: float = Field(default=5.0, ge=0.0, description="USD per million output tokens.")
    max_score_delta: int = Field(default=10, ge=0, le=100,
                                 description="How far the LLM may move the score from the rubric's.")
    max_rationale_chars: int = Field(default=2000, ge=100, description="Longer rationales are truncated.")
    max_recommendation_chars: int = Field(default=500, ge=50, description="Longer ones are truncated.")


def truncate(text: str, limit: int, what: str, notes: list[str]) -> str:
    """Cut `text` to `limit` characters, saying so in the text and in `notes`."""
    if len(text) <= limit:
        return text
    notes.append(f"{what} truncated from {len(text)} to {limit} characters")
    return text[:limit] + f" [truncated from {len(text)} characters]"


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _usage_tokens(message: object) -> tuple[int, int] | None:
    """(input, output) tokens of a well-formed message; None when the response is not one."""
    if not isinstance(message, Message) or not isinstance(message.content, list):
        return None
    usage = getattr(message, "usage", None)
    input_tokens, output_tokens = getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None)
    if isinstance(input_tokens, int) and isinstance(output_tokens, int):
        return (input_tokens, output_tokens) if min(input_tokens, output_tokens) >= 0 else None
    return None


def _error_message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", error.message))
    return error.message


class LLMGrader:
    """Grades metric windows with the rubric, then asks the LLM to refine the grade within bounds.

    `env` and `budget` are parameters so tests and the watchdog can supply their own.
    """

    def __init__(self, config: LLMGraderConfig | None = None, thresholds: RubricThresholds | None = None,
                 budget: Budget | None = None, env: Mapping[str, str] | None = None) -> None:
        self.config = config or LLMGraderConfig()
        self.thresholds = thresholds or RubricThresholds()
        self.budget = budget if budget is not None else Budget(limit_usd=self.config.budget_usd)
        self._env = env if env is not None else os.environ
        self._client: anthropic.Anthropic | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> LLMGrader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def grade(self, window: MetricWindow) -> Grade:
        """The final grade of `window`: the LLM's when it answered well, the rubric's otherwise."""
        rubric_grade = grade_with_rubric(window, self.thresholds)
        if not self.config.enabled:
            return rubric_grade
        try:
            answer = self._ask(window, rubric_grade)
        except AnswerRejected as rejected:
            update = {"fallback_reason": rejected.reason, "model": self.config.model}
            return rubric_grade.model_copy(update=update)
        return self._merge(rubric_grade, answer)

    def _client_for(self, api_key: str) -> anthropic.Anthropic:
        if self._client is None:
            cfg = self.config
            self._client = anthropic.Anthropic(api_key=api_key, base_url=cfg.base_url, timeout=cfg.timeout_s,
                                               max_retries=cfg.max_retries)
        return self._client

    def _ask(self, window: MetricWindow, rubric_grade: Grade) -> LLMAnswer:
        """One Messages API call; every failure becomes AnswerRejected carrying the fallback reason."""
        cfg = self.config
        api_key = self._env.get(cfg.api_key_env, "").strip()
        if not api_key:
            raise AnswerRejected(f"no API key: environment variable {cfg.api_key_env} is not set "
                                 "(set it to enable the LLM grader)")
        system = system_prompt(self.thresholds, cfg.max_score_delta, cfg.max_rationale_chars)
        user = user_prompt(window, rubric_grade)
        tool = submit_grade_tool()
        worst_case = cost_usd(estimate_input_tokens(len(system) + len(user) + len(json.dumps(tool))),
                              cfg.max_tokens, cfg.price_in_per_mtok, cfg.price_out_per_mtok)
        if not self.budget.can_afford(worst_case):
            self.budget.refuse()
            spent, limit = self.budget.spent_usd, self.budget.limit_usd
            raise AnswerRejected(f"budget exhausted: spent ${spent:.4f} of ${limit:.4f}; the next call could "
                                 f"cost up to ${worst_case:.4f}")
        message = self._call(api_key, system, user, tool)
        tokens = _usage_tokens(message)
        if tokens is None:
            # A billed answer whose usage we cannot read is charged at the worst case, then rejected.
            self.budget.charge(estimate_input_tokens(len(system) + len(user)), cfg.max_tokens,
                               cfg.price_in_per_mtok, cfg.price_out_per_mtok)
            raise AnswerRejected(f"wrong schema: the API response is not a Messages API message with usage "
                                 f"(got {_shorten(repr(message))})")
        self.budget.charge(*tokens, cfg.price_in_per_mtok, cfg.price_out_per_mtok)
        return self._answer_from(message)

    def _call(self, api_key: str, system: str, user: str, tool: dict[str, object]) -> Message:
        cfg = self.config
        attempts = cfg.max_retries + 1
        try:
            return self._client_for(api_key).messages.create(
                model=cfg.model, max_tokens=cfg.max_tokens, system=system,
                messages=[{"role": "user", "content": user}], tools=[tool],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        except anthropic.APITimeoutError as error:
            raise AnswerRejected(f"timeout: no answer within {cfg.timeout_s}s per attempt after {attempts} "
                                 f"attempt(s)") from error
        except anthropic.APIConnectionError as error:
            raise AnswerRejected(f"network error after {attempts} attempt(s): {error}") from error
        except anthropic.RateLimitError as error:
            raise AnswerRejected(f"rate limited (HTTP 429) after {attempts} attempt(s): "
                                 f"{_error_message(error)}") from error
        except anthropic.APIStatusError as error:
            if error.status_code >= 500:
                raise AnswerRejected(f"server error (HTTP {error.status_code}) after {attempts} attempt(s): "
                                     f"{_error_message(error)}") from error
            raise AnswerRejected(f"API error (HTTP {error.status_code}): {_error_message(error)}") from error
        except (anthropic.APIResponseValidationError, ValueError) as error:
            # The SDK lets a body that is not JSON surface as json.JSONDecodeError (a ValueError).
            raise AnswerRejected(f"invalid JSON in the API response: {error}") from error
        except anthropic.AnthropicError as error:
            # Any other SDK failure (credentials, configuration) must not stop the watchdog either.
            raise AnswerRejected(f"API client error: {type(error).__name__}: {error}") from error

    @staticmethod
    def _answer_from(message: Message) -> LLMAnswer:
        # getattr throughout: the SDK does not validate responses strictly, so blocks can be anything.
        blocks = message.content if isinstance(message.content, list) else []
        for block in blocks:
            if getattr(block, "type", None) == "tool_use":
                name = getattr(block, "name", None)
                if name != TOOL_NAME:
                    raise AnswerRejected(f"wrong schema: the model called tool {name!r}, not {TOOL_NAME!r}")
                return parse_tool_input(getattr(block, "input", None))
        texts = [block.text for block in blocks
                 if getattr(block, "type", None) == "text" and isinstance(getattr(block, "text", None), str)]
        if not texts:
            kinds = [getattr(block, "type", type(block).__name__) for block in blocks]
            raise AnswerRejected(f"wrong schema: no {TOOL_NAME} call and no text in the answer "
                                 f"(blocks: {kinds}, stop_reason: {getattr(message, 'stop_reason', None)})")
        return parse_text_answer("\n".join(texts))

    def _merge(self, rubric_grade: Grade, answer: LLMAnswer) -> Grade:
        cfg = self.config
        notes: list[str] = []
        low = max(0, rubric_grade.score - cfg.max_score_delta)
        high = min(100, rubric_grade.score + cfg.max_score_delta)
        score = min(max(answer.score, low), high)
        if score != answer.score:
            notes.append(f"LLM score {answer.score} clamped to {score}: at most {cfg.max_score_delta} points "
                         f"from the rubric's {rubric_grade.score}")
        if rubric_grade.hard_faults and score > self.thresholds.hard_fault_cap:
            notes.append(f"hard fault: LLM score {score} capped at {self.thresholds.hard_fault_cap}")
            score = self.thresholds.hard_fault_cap
        llm_points = answer.components.model_dump()
        components = [self._llm_component(component, llm_points[component.name])
                      for component in rubric_grade.components]
        rationale = truncate(answer.rationale, cfg.max_rationale_chars, "rationale", notes)
        recommendation = None
        if answer.recommendation:
            recommendation = truncate(answer.recommendation, cfg.max_recommendation_chars, "recommendation",
                                      notes)
        return Grade(score=score, letter=letter_for_score(score), components=components, source="llm",
                     rationale=rationale, recommendation=recommendation, hard_faults=rubric_grade.hard_faults,
                     notes=notes, model=cfg.model)

    @staticmethod
    def _llm_component(rubric_component: Component, points: int) -> Component:
        reason = rubric_component.reason
        if points != rubric_component.points:
            reason = f"{reason} (LLM: {points}, rubric: {rubric_component.points})"
        return rubric_component.model_copy(update={"points": points, "reason": reason})
