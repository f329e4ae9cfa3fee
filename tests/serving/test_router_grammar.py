"""The router's grammar-constrained decoding (router.constrained_decoding) on the fixture run's trained
adapters, which answer end-of-text at once when free: under the grammar they answer a value-format request
with a value the toolkit parses (`valid: true`); switched off, they answer as before (`valid: false`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hlx.checker import check
from hlx.formats import parse, render
from serving.router import Router, RouterSettings

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)

# Value-format requests and the format each answer must parse in, written out here (not asked of routing).
VALUE_REQUESTS = {
    "Convert to HLXL: {C:14,0=42}": ("ascii", "hlxl"),
    "Convert to LC-R: {14: {@0: 42}}": ("runic", "lc-r"),
    "Convert to LC-T: [1, 2]": ("ascii", "lc-t"),
    "Convert to LC-B: [1, 2]": ("coordinator", "lc-b"),
}


def _router(run: TrainedRun, grammar: bool) -> Iterator[Router]:
    served = Router(
        run.run_dir,
        RouterSettings(default_max_new_tokens=16, max_new_tokens_limit=64, constrained_decoding=grammar),
    )
    yield served
    served.close()


@pytest.fixture(scope="module")
def grammar_router(trained_run: TrainedRun) -> Iterator[Router]:
    yield from _router(trained_run, grammar=True)


@pytest.fixture(scope="module")
def free_router(trained_run: TrainedRun) -> Iterator[Router]:
    yield from _router(trained_run, grammar=False)


def test_value_answers_are_valid_and_parse_with_the_toolkit(grammar_router: Router) -> None:
    prompts = list(VALUE_REQUESTS)
    for prompt, answer in zip(prompts, grammar_router.generate_many(prompts), strict=True):
        expert, fmt = VALUE_REQUESTS[prompt]
        assert (answer["expert"], answer["format"]) == (expert, fmt)
        assert answer["text"].strip(), answer
        value = parse(answer["text"], fmt)  # the toolkit itself: raises HLXError when it does not parse
        assert answer["valid"] is True and answer["check_error"] is None, answer
        assert answer["canonical"] == render(value, fmt)
        assert answer["finish_reason"] == "stop"  # closed by the grammar, not cut by the budget


@pytest.mark.parametrize("budget", [2, 3])
def test_the_smallest_budget_the_grammar_promises_still_gives_a_parseable_answer(
    grammar_router: Router, budget: int
) -> None:
    for prompt, (_, fmt) in VALUE_REQUESTS.items():
        answer = grammar_router.generate(prompt, max_new_tokens=budget)
        assert 1 <= answer["completion_tokens"] <= budget
        parse(answer["text"], fmt)
        assert answer["valid"] is True, answer


def test_free_text_is_decoded_freely_beside_grammar_rows(grammar_router: Router, free_router: Router) -> None:
    explain = "Explain contract: {14: {@0: 42}}"
    constrained = grammar_router.generate_many([explain, *VALUE_REQUESTS])[0]
    free = free_router.generate(explain)
    assert constrained["format"] == "text"
    assert (constrained["text"], constrained["valid"]) == (free["text"], free["valid"])


def test_switched_off_the_trained_adapters_answer_as_before_and_are_invalid(free_router: Router) -> None:
    for prompt, (expert, fmt) in VALUE_REQUESTS.items():
        answer = free_router.generate(prompt)
        assert answer["expert"] == expert
        # These adapters emit end-of-text at once when free (see router_fixture.TrainedRun).
        assert (answer["text"], answer["finish_reason"], answer["completion_tokens"]) == ("", "stop", 0)
        assert answer["valid"] is False and answer["canonical"] is None
        assert answer["check_error"] == check("", "", fmt).error
        assert answer["check_error"]
