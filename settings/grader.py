"""The `watchdog` and `grader` sections: when each watchdog grades, the rubric's thresholds (the rules are in
agents/rubric.py's docstring) and the LLM grader's settings (its guarantees in agents/llm_grader.py's)."""

from __future__ import annotations

from pydantic import Field, model_validator

from settings.base import FrozenSection, StrictModel

DEFAULT_MODEL = "claude-haiku-4-5"


class RubricThresholds(FrozenSection):
    """Every threshold the rubric's bands use; agents/rubric.py's docstring states each rule in full."""

    spike_ratio: float = Field(default=1.5, gt=1.0, description="Spike: loss > this × rolling median.")
    spike_min_delta: float = Field(default=0.01, ge=0.0, description="Spike: and loss − median >= this.")
    spike_lookback: int = Field(default=5, ge=1, description="Steps in a spike's rolling median.")
    erratic_spike_fraction: float = Field(
        default=0.10, gt=0.0, le=1.0, description="More spikes than this fraction of judged steps: erratic."
    )
    diverge_ratio: float = Field(
        default=1.10, ge=1.0, description="Diverging: last-quarter mean loss > first-quarter mean × this."
    )
    min_steps_for_curve: int = Field(
        default=8, ge=2, description="Fewer step losses than this: judge the per-epoch val losses instead."
    )
    accuracy_excellent: float = Field(default=0.95, ge=0.0, le=1.0, description="Exact match above this: 30.")
    accuracy_good: float = Field(default=0.90, ge=0.0, le=1.0, description="Exact match at or above: 25.")
    accuracy_fair: float = Field(default=0.80, ge=0.0, le=1.0, description="Exact match at or above: 20.")
    format_perfect: float = Field(default=1.0, ge=0.0, le=1.0, description="Format validity at or above: 20.")
    format_minor: float = Field(default=0.95, ge=0.0, le=1.0, description="Format validity at or above: 15.")
    stall_tolerance: float = Field(
        default=0.01, ge=0.0, description="Flat epoch: relative val-loss improvement below this."
    )
    plateau_epochs: int = Field(default=2, ge=1, description="Consecutive flat epochs that make a plateau.")
    regression_tolerance: float = Field(
        default=0.02, ge=0.0, description="Regression: last exact match below the window's best by more."
    )
    hard_fault_cap: int = Field(default=59, ge=0, le=59, description="Highest score with a hard fault.")

    @model_validator(mode="after")
    def _bands_ordered(self) -> RubricThresholds:
        problems = []
        if not self.accuracy_excellent >= self.accuracy_good >= self.accuracy_fair:
            problems.append(
                "accuracy thresholds must satisfy accuracy_excellent >= accuracy_good >= accuracy_fair, got "
                f"{self.accuracy_excellent} / {self.accuracy_good} / {self.accuracy_fair}"
            )
        if self.format_perfect < self.format_minor:
            problems.append(
                f"format_perfect ({self.format_perfect}) must be >= format_minor ({self.format_minor})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LLMGraderConfig(FrozenSection):
    """Settings of the LLM grader; all have safe defaults. The key itself is read from the environment."""

    enabled: bool = Field(default=True, description="False: grade with the rubric only, never call the API.")
    model: str = Field(default=DEFAULT_MODEL, min_length=1, description="Anthropic model id.")
    api_key_env: str = Field(default="ANTHROPIC_API_KEY", min_length=1,
                             description="Environment variable holding the API key; unset means rubric only.")
    base_url: str | None = Field(default=None, description="API base URL; None means the SDK's default.")
    timeout_s: float = Field(default=20.0, gt=0.0,
                             description="Longest one attempt may take, its whole body included, in seconds.")
    max_retries: int = Field(default=2, ge=0, le=10,
                             description="Retries on 429, 408, 409, 5xx, timeouts and network errors.")
    deadline_s: float = Field(default=60.0, gt=0.0, le=240.0,
                              description="Hard wall-clock bound on one grade's API work: attempts, waits "
                                          "between them and slow bodies; then the rubric's grade is used. At "
                                          "most 240 s, under the supervisor's 300 s wait for a grade.")
    max_retry_after_s: float = Field(default=30.0, ge=0.0,
                                     description="Longest `retry-after` honoured; a longer (or infinite) "
                                                 "one ends the call with the rubric's grade.")
    max_tokens: int = Field(default=1024, ge=16, le=8192, description="Cap on the answer's tokens.")
    budget_usd: float = Field(default=1.0, ge=0.0,
                              description="Spending cap for the whole run, in USD, shared by every watchdog "
                                          "through <run dir>/llm_budget.json.")
    price_in_per_mtok: float = Field(default=1.0, ge=0.0, description="USD per million input tokens.")
    price_out_per_mtok: float = Field(default=5.0, ge=0.0, description="USD per million output tokens.")
    max_score_delta: int = Field(default=10, ge=0, le=100,
                                 description="How far the LLM may move the score from the rubric's.")
    max_rationale_chars: int = Field(default=2000, ge=100, description="Longer rationales are truncated.")
    max_recommendation_chars: int = Field(default=500, ge=50, description="Longer ones are truncated.")


class WatchdogSection(StrictModel):
    """When each specialist's watchdog grades its window of metrics."""

    every_epochs: int = Field(1, ge=1)
    """Grade every N epochs of a phase (and always after a phase's last epoch)."""
    every_epochs_by_phase: dict[str, int] = Field(default_factory=dict)
    """Per phase name, overrides every_epochs (the seeds: phase1 every 10, phase2 every 25)."""

    def every_for(self, phase: str) -> int:
        return self.every_epochs_by_phase.get(phase, self.every_epochs)


class GraderSection(StrictModel):
    """The deterministic rubric (always) and the LLM grader (when its API key is set)."""

    rubric: RubricThresholds = Field(default_factory=RubricThresholds)
    """Thresholds of the rubric's bands (see the README's rubric table)."""
    llm: LLMGraderConfig = Field(default_factory=LLMGraderConfig)
    """Claude Haiku grader settings: model, key variable, timeout, retries, budget, score band."""
