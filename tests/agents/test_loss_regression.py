"""The evidence's val-loss regression rule: a loss more than loss_regression_tolerance above the best before
it, while exact match did not rise beyond its interval, is a regression (issue 13, scenario (b))."""

from __future__ import annotations

import pytest

from agents.evidence import assess, wilson_interval
from agents.metrics import EpochRecord, MetricWindow
from settings.policies import EvidenceThresholds

N = 48


def record(epoch: int, val_loss: float, exact: float = 9 / N) -> EpochRecord:
    return EpochRecord(epoch=epoch, val_loss=val_loss, exact_match=exact, format_validity=0.4, lr=2e-2, n=N)


def window(evaluations: list[EpochRecord]) -> MetricWindow:
    return MetricWindow(
        specialist="ascii", phase="main", epochs=evaluations[-1:], earlier_epochs=evaluations[:-1]
    )


@pytest.mark.parametrize(
    ("last", "verdict"),
    [(4.0 * 1.25, "inconclusive"), (4.0 * 1.25 + 1e-9, "regressing")],
    ids=["rise-at-tolerance", "rise-just-above"],
)
def test_a_val_loss_more_than_the_tolerance_above_the_best_before_it_is_a_regression(
    last: float, verdict: str
) -> None:
    # Tolerance 2^-2 keeps 4.0 × 1.25 exact in floating point; the start (epoch -1) is the best before it.
    evidence = assess(
        window([record(-1, 4.0), record(0, last)]), EvidenceThresholds(loss_regression_tolerance=0.25)
    )
    assert evidence.verdict == verdict, evidence.reasons
    if verdict == "regressing":
        assert "above the best before it (4 at epoch -1" in evidence.reasons[0]


def test_the_default_tolerance_is_five_percent_relative() -> None:
    assert EvidenceThresholds().loss_regression_tolerance == 0.05
    # Seed 1 of the LR x10 bench: exact match never drops, the val loss ends 12% above the start.
    evidence = assess(window([record(-1, 4.2), record(0, 4.2 * 1.12)]))
    assert evidence.verdict == "regressing", evidence.reasons


def test_the_reference_is_the_lowest_val_loss_before_the_last_not_the_previous_one() -> None:
    # 4.0 -> 3.0 -> 3.3: the last is 10% above the best (3.0), though below the start.
    evidence = assess(window([record(-1, 4.0), record(0, 3.0), record(1, 3.3)]))
    assert evidence.verdict == "regressing", evidence.reasons
    assert "at epoch 0" in evidence.reasons[0]


def exact_at_interval_edge(reference_exact: float) -> tuple[float, float]:
    """The smallest k/N whose interval's low is above the reference's high, and the one below it."""
    high = wilson_interval(reference_exact, N, 1.96)[1]
    above = next(k / N for k in range(N + 1) if wilson_interval(k / N, N, 1.96)[0] > high)
    return above, above - 1 / N


def test_a_higher_loss_with_exact_match_risen_beyond_its_interval_is_no_regression() -> None:
    above, below = exact_at_interval_edge(9 / N)
    risen = assess(window([record(-1, 4.0), record(0, 4.4, exact=above)]))
    assert risen.verdict != "regressing", risen.reasons
    not_risen = assess(window([record(-1, 4.0), record(0, 4.4, exact=below)]))
    assert not_risen.verdict == "regressing", not_risen.reasons


def test_a_lower_exact_match_is_compared_with_the_lowest_loss_evaluation() -> None:
    # The exact match the last is held against is that of the lowest-loss evaluation (epoch 0, 0.5): against
    # the start's (0.1) it would have risen beyond its interval.
    evidence = assess(
        window([record(-1, 4.0, exact=0.1), record(0, 3.0, exact=0.5), record(1, 3.3, exact=0.6)])
    )
    assert evidence.verdict == "regressing", evidence.reasons


def test_a_non_finite_best_is_skipped_and_a_non_finite_last_is_instability() -> None:
    skipped = assess(window([record(-1, float("nan")), record(0, 4.0), record(1, 4.1)]))
    assert skipped.verdict != "regressing", skipped.reasons  # 2.5% above 4.0, the only finite one
    unstable = assess(window([record(-1, 4.0), record(0, float("inf"))]))
    assert unstable.verdict == "unstable"
