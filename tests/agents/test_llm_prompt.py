"""The LLM grader's prompt carries the evidence and the allowed actions, and says it may only recommend."""

from __future__ import annotations

from agents.evidence import assess
from agents.llm_prompt import system_prompt, user_prompt
from agents.metrics import EpochRecord
from agents.rubric import RubricThresholds, grade_with_rubric
from tests.agents.window_factory import make_window


def test_the_user_prompt_carries_the_evidence_with_its_intervals_and_the_allowed_actions() -> None:
    window = make_window([2.0, 1.875, 1.75], exact=0.25)  # exact in binary: a standard error of 0
    window = window.model_copy(update={"epochs": [r.model_copy(update={"n": 96}) for r in window.epochs]})
    allowed = ["continue", "halve_lr"]
    window = window.model_copy(update={"evidence": assess(window), "allowed_actions": allowed})
    text = user_prompt(window, grade_with_rubric(window))
    assert "Evidence: improving (3 evaluation(s) on the trajectory)" in text
    assert "- val loss 1.75 is 6.67% below the best before it (1.875; > plateau_tolerance 0.50%)" in text
    assert "- exact match: 25.0% [17.4%, 34.5%] (n=96, epoch 3)" in text
    assert "- val loss slope per evaluation: -0.125 ± 0 (standard error)" in text
    assert "Allowed actions (recommend only one of these): continue, halve_lr" in text


def test_without_evidence_the_prompt_has_no_evidence_section() -> None:
    window = make_window()
    text = user_prompt(window, grade_with_rubric(window))
    assert "Evidence:" not in text and "Allowed actions" not in text


def test_the_system_prompt_says_the_policy_table_decides() -> None:
    text = system_prompt(RubricThresholds(), 10, 2000)
    assert "it must start with exactly one of the allowed actions" in text
    assert "the policy table still decides" in text


def test_epoch_records_keep_their_n() -> None:
    assert EpochRecord(epoch=1, val_loss=1.0, exact_match=0.5, format_validity=0.5, lr=1e-3, n=96).n == 96
