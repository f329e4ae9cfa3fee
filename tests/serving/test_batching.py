"""The router's per-row batching rules, its verdicts on answers, failure logs without secrets (no model)."""

from __future__ import annotations

import pytest
import torch

from serving.answers import verdict_fields
from serving.batching import BatchStats, cut_answer, left_pad, plan_calls, row_budget
from serving.safe_logging import clip, failure_fields

EOS = 0


@pytest.mark.parametrize(
    ("max_new", "prompt_tokens", "context", "budget"),
    [
        (40, 10, 256, 40),  # its own max_new_tokens
        (40, 216, 256, 40),  # exactly fills the context
        (40, 217, 256, 39),  # one token short of room: cut by its own prompt only
        (40, 255, 256, 1),
    ],
)
def test_a_rows_budget_is_its_own(max_new: int, prompt_tokens: int, context: int, budget: int) -> None:
    assert row_budget(max_new, prompt_tokens, context) == budget


def test_rows_share_a_call_only_while_width_and_steps_fit_the_context() -> None:
    # Widest prompt 216 + largest budget 40 = 256: exactly the context, one call.
    assert plan_calls([10, 216], [40, 40], 256) == [[0, 1]]
    # 217 + 40 = 257: the long prompt would cut the short row's 40 tokens; it gets a call of its own.
    assert plan_calls([10, 217], [40, 39], 256) == [[0], [1]]
    # The case: a 497-token prompt in a 512 context next to rows asking for 75 tokens.
    assert plan_calls([20, 497, 30], [75, 15, 75], 512) == [[0, 2], [1]]
    # Shortest first, ties by arrival; a row alone always fits (its budget already fits its prompt).
    assert plan_calls([50, 50, 5], [10, 10, 250], 256) == [[2], [0, 1]]
    assert plan_calls([], [], 256) == []


def test_an_answer_ends_at_eos_or_at_its_own_budget() -> None:
    assert cut_answer([5, 6, EOS, 7], EOS, 4) == ([5, 6], "stop")
    assert cut_answer([5, 6, 7, EOS], EOS, 4) == ([5, 6, 7], "stop")  # EOS as the budget's last token
    assert cut_answer([5, 6, 7, 8, EOS], EOS, 4) == ([5, 6, 7, 8], "length")  # EOS one past the budget
    assert cut_answer([5, 6, 7, 8, 9, 9], EOS, 6) == ([5, 6, 7, 8, 9, 9], "length")
    assert cut_answer([5, 6], None, 6) == ([5, 6], "length")


def test_rows_are_padded_on_the_left() -> None:
    batch = left_pad([[7, 8, 9], [4]], pad_id=1)
    assert batch["input_ids"].tolist() == [[7, 8, 9], [1, 1, 4]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["input_ids"].dtype == torch.long


def test_batch_stats_report_the_sizes_formed() -> None:
    stats = BatchStats()
    assert stats.snapshot() == {
        "batches": 0,
        "requests": 0,
        "mean_batch_size": 0.0,
        "max_batch_size": 0,
        "sizes": {},
    }
    for size in (1, 16, 16, 3):
        stats.record(size)
    assert stats.snapshot() == {
        "batches": 4,
        "requests": 36,
        "mean_batch_size": 9.0,
        "max_batch_size": 16,
        "sizes": {"1": 1, "3": 1, "16": 2},
    }


def test_free_text_is_reported_unchecked_not_valid() -> None:
    unchecked = verdict_fields("Contract 14 holds one field, 42.", "text")
    assert unchecked == {
        "valid": None,
        "canonical": None,
        "check_error": "not checked: free text has no grammar to check it against",
    }
    assert verdict_fields("   ", "text")["valid"] is False  # no answer at all is still a wrong answer
    assert verdict_fields("🐊14🐁0 42🐂", "lc-r")["valid"] is True
    wrong = verdict_fields("not lc-r", "lc-r")
    assert wrong["valid"] is False and wrong["check_error"]


def test_clip_keeps_short_texts_and_cuts_long_ones() -> None:
    assert clip("x" * 80) == "x" * 80
    assert clip("x" * 81) == "x" * 80 + "… (1 more characters)"
    assert clip("abcdef", 3) == "abc… (3 more characters)"


def test_failure_fields_hold_no_local_variables() -> None:
    def handler(authorization: str) -> None:
        secret_local = authorization  # noqa: F841 - the variable a locals-printing logger would show
        raise RuntimeError("the router broke")

    secret = "-".join(["sk", "very", "secret"])  # built at run time: no source line holds it
    try:
        handler(f"Bearer {secret}")
    except RuntimeError as err:
        fields = failure_fields(err)
    assert fields["error"] == "RuntimeError: the router broke"
    assert "handler" in fields["traceback"] and "raise RuntimeError" in fields["traceback"]
    assert secret not in repr(fields)
    assert len(failure_fields(ValueError("p" * 1000))["error"]) < 340
