"""The Claude Haiku grader on the anthropic SDK: it refines the rubric's grade, falling back to it on failure.

Guarantees, whatever the API answers:
- `grade()` never raises: on no key, network error, timeout, 4xx, 5xx/429 after retries, malformed or too
  deeply nested JSON, a response that is not a message, a cut-off answer, two tool calls, missing fields,
  strings for integers, out-of-range scores, a letter that does not match the score, or an exhausted
  budget the grade is the rubric's, with a `fallback_reason` (at most 300 characters) saying which;
- it returns within `deadline_s` (plus the rubric's milliseconds): retries, `retry-after` waits and slow
  bodies all count against it (agents/llm_call.py);
- spending never passes `budget_usd` (agents/budget.py): the worst case is reserved before the call;
- the LLM's score is clamped to within `max_score_delta` of the rubric's (recorded in `notes`);
- a hard fault keeps the grade at F;
- the rationale and recommendation are truncated to the configured lengths (recorded in `notes`).

The SDK (agents/llm_call.py) is imported when a grader is built with a key set (or by the first grade that
finds one), not by this module: a watchdog with no key, or with the LLM grader off, never loads it.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog

from agents.bounded import bounded, quote, truncate
from agents.budget import Budget, BudgetError, cost_usd, estimate_input_tokens
from agents.grade import Component, Grade, letter_for_score
from agents.llm_answer import AnswerRejected, LLMAnswer, answer_from_message, submit_grade_tool, tool_choice
from agents.llm_prompt import system_prompt, user_prompt
from agents.metrics import MetricWindow
from agents.rubric import grade_with_rubric
from settings.grader import DEFAULT_MODEL, LLMGraderConfig, RubricThresholds

if TYPE_CHECKING:
    import anthropic

    from agents.llm_call import DeadlineCaller

__all__ = ["DEFAULT_MODEL", "LLMGrader", "LLMGraderConfig", "truncate"]

log = structlog.get_logger(__name__)


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
        self._client_lock = threading.Lock()
        if self.config.enabled and self._api_key():
            # The SDK's import (seconds of CPU) is paid here, as the watchdog starts, not inside a grade's
            # deadline; with no key it is never paid (a key set later loads it in its first grade).
            importlib.import_module("agents.llm_call")

    def _api_key(self) -> str:
        return self._env.get(self.config.api_key_env, "").strip()

    def close(self) -> None:
        with self._client_lock:
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
        notes: list[str] = []
        try:
            answer = self._ask(window, rubric_grade, notes)
        except AnswerRejected as rejected:
            update = {"fallback_reason": rejected.reason, "model": self.config.model,
                      "notes": [*rubric_grade.notes, *notes]}
            return rubric_grade.model_copy(update=update)
        return self._merge(rubric_grade, answer, notes)

    def _client_for(self, api_key: str) -> anthropic.Anthropic:
        from agents.llm_call import new_client

        with self._client_lock:
            if self._client is None:
                self._client = new_client(api_key, self.config.base_url, self.config.timeout_s)
            return self._client

    def _ask(self, window: MetricWindow, rubric_grade: Grade, notes: list[str]) -> LLMAnswer:
        """One Messages API call within the deadline; every failure becomes AnswerRejected with the reason."""
        start = time.monotonic()
        cfg = self.config
        api_key = self._api_key()
        if not api_key:
            raise AnswerRejected(f"no API key: environment variable {cfg.api_key_env} is not set "
                                 "(set it to enable the LLM grader)")
        from agents.llm_call import CallLimits, DeadlineCaller, run_before

        system = system_prompt(self.thresholds, cfg.max_score_delta, cfg.max_rationale_chars)
        user = user_prompt(window, rubric_grade)
        tool = submit_grade_tool()
        worst_case = cost_usd(estimate_input_tokens(len(system) + len(user) + len(json.dumps(tool))),
                              cfg.max_tokens, cfg.price_in_per_mtok, cfg.price_out_per_mtok)
        reservation = self._reserve(worst_case)
        request = {"model": cfg.model, "max_tokens": cfg.max_tokens, "system": system, "tools": [tool],
                   "messages": [{"role": "user", "content": user}], "tool_choice": tool_choice()}
        limits = CallLimits(cfg.deadline_s, cfg.timeout_s, cfg.max_retries, cfg.max_retry_after_s)
        caller = DeadlineCaller(self._client_for(api_key), limits, start)
        try:
            # The worker settles the reservation itself, even after this grade has stopped waiting for it.
            message = run_before(caller.deadline, lambda: self._call_and_settle(caller, request, reservation,
                                                                                notes), "llm-grade-call")
        except TimeoutError as error:
            raise AnswerRejected(f"deadline: no answer within the grade's deadline of {cfg.deadline_s:g} s "
                                 f"(the call was abandoned)") from error
        except BudgetError as error:
            raise AnswerRejected(str(error)) from error
        return answer_from_message(message)

    def _reserve(self, worst_case: float) -> str:
        try:
            reservation = self.budget.reserve(worst_case)
            if reservation is not None:
                return reservation
            state = self.budget.snapshot()
        except BudgetError as error:
            raise AnswerRejected(str(error)) from error
        in_flight = f" (+${state.reserved_usd:.4f} reserved by calls in flight)" if state.reservations else ""
        limit = self.budget.limit_usd
        raise AnswerRejected(f"budget exhausted: spent ${state.spent_usd:.4f}{in_flight} of ${limit:.4f}; "
                             f"the next call could cost up to ${worst_case:.4f}")

    def _call_and_settle(self, caller: DeadlineCaller, request: dict[str, object], reservation: str,
                         notes: list[str]) -> object:
        """The API's message, its cost settled: released when nothing was billed, at most the reservation."""
        from agents.llm_call import usage_tokens  # already loaded by _ask, which made `caller`

        cfg = self.config
        try:
            message = caller.create(request)
        except AnswerRejected:
            self.budget.release(reservation)
            raise
        except Exception as error:
            # Any other SDK failure (credentials, configuration) must not stop the watchdog either.
            self.budget.release(reservation)
            reason = f"API client error: {type(error).__name__}: {bounded(str(error))}"
            raise AnswerRejected(reason) from error
        if isinstance(message, str):
            # Not JSON at all (an HTML page from a proxy): not an answer the API billed.
            self.budget.release(reservation)
            raise AnswerRejected(f"wrong schema: the API response is not JSON (got {quote(message, 200)}); "
                                 f"not charged")
        tokens = usage_tokens(message)
        if tokens is None:
            # JSON from the API whose usage we cannot read: charged at the reservation, the worst case.
            self.budget.settle_reserved(reservation)
            raise AnswerRejected(f"wrong schema: the API response is not a Messages API message with usage "
                                 f"(got {quote(message, 200)})")
        anomaly = self.budget.settle(reservation, *tokens, cfg.price_in_per_mtok, cfg.price_out_per_mtok)
        if anomaly is not None:
            log.warning("llm grader usage anomaly", anomaly=anomaly, model=cfg.model)
            notes.append(anomaly)
        return message

    def _merge(self, rubric_grade: Grade, answer: LLMAnswer, notes: list[str]) -> Grade:
        cfg = self.config
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
