"""The LLM grader's spending for one run: reserve before a call, settle after, never past the cap.

One ledger serves every watchdog of a run when it lives in a file (`<run dir>/llm_budget.json`): each change
reads, updates and atomically replaces the file under an exclusive lock on a side file, so two watchdogs
(two processes) share one cap and a restarted watchdog carries on from what was spent. Without a path the
ledger is in memory (one grader, tests).

A call first reserves its worst case (the prompt estimate plus `max_tokens` of output); the cap refuses a
reservation that could take spending past it. Afterwards the reservation is released (no billed answer: an
error, a timeout, a page that is not JSON) or settled at the reported usage, but never above what was
reserved: usage above the reservation is an anomaly, recorded as such, not spending. A reservation of a
process that died mid-call stays counted, since that call may have been billed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.bounded import bounded
from fileio.atomic import write_text_atomic

# Conservative characters-per-token for the pre-call estimate: real English text averages about 4, so
# dividing by 3 over-estimates the prompt and the cap is not overrun by a long window summary.
CHARS_PER_TOKEN_ESTIMATE = 3
BUDGET_FILE = "llm_budget.json"
"""The run's ledger, in the run directory."""
KEPT_ANOMALIES = 20
"""Anomalies kept in the ledger (the latest); `anomaly_count` counts them all."""


def cost_usd(input_tokens: int, output_tokens: int, price_in_per_mtok: float,
             price_out_per_mtok: float) -> float:
    return (input_tokens * price_in_per_mtok + output_tokens * price_out_per_mtok) / 1_000_000


def estimate_input_tokens(prompt_chars: int) -> int:
    return -(-prompt_chars // CHARS_PER_TOKEN_ESTIMATE)


class BudgetError(RuntimeError):
    """The ledger file cannot be read or written; the grader stays off rather than spend blind."""


class BudgetState(BaseModel):
    """What the ledger holds (also its file's JSON)."""

    model_config = ConfigDict(extra="forbid")

    spent_usd: float = Field(default=0.0, ge=0.0, description="Settled spending.")
    reservations: dict[str, float] = Field(default_factory=dict,
                                           description="Worst cases of the calls in flight, by id.")
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    calls: int = Field(default=0, ge=0, description="Calls that returned a billed message.")
    refused: int = Field(default=0, ge=0, description="Calls not made: the budget could not cover them.")
    anomaly_count: int = Field(default=0, ge=0, description="Answers whose usage exceeded their reservation.")
    anomalies: list[str] = Field(default_factory=list, description="The latest anomalies, bounded.")

    @property
    def reserved_usd(self) -> float:
        return sum(self.reservations.values())

    @property
    def committed_usd(self) -> float:
        """Spent plus reserved: what the cap is checked against."""
        return self.spent_usd + self.reserved_usd


class Budget:
    """The run's ledger against a cap of `limit_usd`: in `path` if given (shared, locked), else in memory."""

    def __init__(self, limit_usd: float, path: Path | None = None) -> None:
        self.limit_usd = limit_usd
        self.path = path
        self._memory = BudgetState()
        self._thread_lock = threading.Lock()

    # ----------------------------------------------------------------------------------- reading

    def snapshot(self) -> BudgetState:
        with self._locked() as state:
            return state.model_copy(deep=True)

    @property
    def spent_usd(self) -> float:
        return self.snapshot().spent_usd

    @property
    def reserved_usd(self) -> float:
        return self.snapshot().reserved_usd

    @property
    def calls(self) -> int:
        return self.snapshot().calls

    @property
    def refused(self) -> int:
        return self.snapshot().refused

    @property
    def input_tokens(self) -> int:
        return self.snapshot().input_tokens

    @property
    def output_tokens(self) -> int:
        return self.snapshot().output_tokens

    # ---------------------------------------------------------------------------------- changing

    def reserve(self, worst_case_usd: float) -> str | None:
        """Hold `worst_case_usd` for one call; its id, or None (counted as refused) if the cap forbids it."""
        with self._locked(write=True) as state:
            if state.committed_usd + worst_case_usd > self.limit_usd:
                state.refused += 1
                return None
            reservation = uuid.uuid4().hex
            state.reservations[reservation] = worst_case_usd
            return reservation

    def release(self, reservation: str) -> None:
        """The call was not billed (an error, a timeout, a page that is not a message)."""
        with self._locked(write=True) as state:
            state.reservations.pop(reservation, None)

    def settle_reserved(self, reservation: str) -> float:
        """A billed answer whose usage cannot be read: charged at its reservation, the worst case."""
        with self._locked(write=True) as state:
            charged = state.reservations.pop(reservation, 0.0)
            state.spent_usd += charged
            state.calls += 1
            return charged

    def settle(self, reservation: str, input_tokens: int, output_tokens: int, price_in_per_mtok: float,
               price_out_per_mtok: float) -> str | None:
        """Charge a billed answer at its reported usage, at most its reservation; the anomaly, if any."""
        reported = cost_usd(input_tokens, output_tokens, price_in_per_mtok, price_out_per_mtok)
        with self._locked(write=True) as state:
            reserved = state.reservations.pop(reservation, 0.0)
            state.calls += 1
            if reported <= reserved:
                state.spent_usd += reported
                state.input_tokens += input_tokens
                state.output_tokens += output_tokens
                return None
            state.spent_usd += reserved
            anomaly = bounded(f"usage anomaly: the API reported {input_tokens} input and {output_tokens} "
                              f"output tokens (${reported:.4f}), above the ${reserved:.4f} reserved for the "
                              f"call; charged ${reserved:.4f}")
            state.anomaly_count += 1
            state.anomalies = [*state.anomalies, anomaly][-KEPT_ANOMALIES:]
            return anomaly

    # ----------------------------------------------------------------------------------- storage

    @contextlib.contextmanager
    def _locked(self, write: bool = False) -> Iterator[BudgetState]:
        """The state under an exclusive lock (threads, and processes when in a file); saved if `write`."""
        with self._thread_lock:
            if self.path is None:
                yield self._memory
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lock_file = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115
            except OSError as error:
                raise self._storage_error("opened", error) from error
            with lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                state = self._read()
                yield state
                if write:
                    self._write(state)

    def _storage_error(self, verb: str, error: OSError) -> BudgetError:
        return BudgetError(bounded(f"budget ledger {self.path} cannot be {verb} ({error}); the LLM grader "
                                   f"stays off until it can"))

    def _read(self) -> BudgetState:
        assert self.path is not None
        try:
            return BudgetState.model_validate(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return BudgetState()
        except (OSError, ValueError, RecursionError, ValidationError) as error:
            # Never start again from zero over a damaged ledger: that would lift the cap.
            reason = (f"budget ledger {self.path} is unreadable ({type(error).__name__}: {error}); fix or "
                      f"delete it to let the LLM grader spend again")
            raise BudgetError(bounded(reason)) from error

    def _write(self, state: BudgetState) -> None:
        assert self.path is not None
        try:
            # The ledger's folder (the run directory) exists already; a write never creates it again.
            write_text_atomic(self.path, state.model_dump_json(indent=1), make_parents=False)
        except OSError as error:
            raise self._storage_error("written", error) from error
