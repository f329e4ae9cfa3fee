"""Token and cost accounting for the LLM grader over one run, with a hard spending cap."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Conservative characters-per-token for the pre-call estimate: real English text averages about 4, so
# dividing by 3 over-estimates the prompt and the cap is not overrun by a long window summary.
CHARS_PER_TOKEN_ESTIMATE = 3


def cost_usd(input_tokens: int, output_tokens: int, price_in_per_mtok: float,
             price_out_per_mtok: float) -> float:
    return (input_tokens * price_in_per_mtok + output_tokens * price_out_per_mtok) / 1_000_000


def estimate_input_tokens(prompt_chars: int) -> int:
    return -(-prompt_chars // CHARS_PER_TOKEN_ESTIMATE)


class Budget(BaseModel):
    """Spending of one run. Mutable; one grader (one watchdog) owns it, so it is not locked."""

    model_config = ConfigDict(extra="forbid")

    limit_usd: float = Field(ge=0.0, description="The cap: no call is made that could take spending past it.")
    spent_usd: float = Field(default=0.0, ge=0.0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    calls: int = Field(default=0, ge=0, description="Calls that returned a message (and were billed).")
    refused: int = Field(default=0, ge=0, description="Calls not made: the budget could not cover them.")

    @property
    def remaining_usd(self) -> float:
        return max(0.0, self.limit_usd - self.spent_usd)

    def can_afford(self, worst_case_usd: float) -> bool:
        return self.spent_usd + worst_case_usd <= self.limit_usd

    def refuse(self) -> None:
        self.refused += 1

    def charge(self, input_tokens: int, output_tokens: int, price_in_per_mtok: float,
               price_out_per_mtok: float) -> float:
        """Record one billed call and return its cost."""
        cost = cost_usd(input_tokens, output_tokens, price_in_per_mtok, price_out_per_mtok)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.spent_usd += cost
        self.calls += 1
        return cost
