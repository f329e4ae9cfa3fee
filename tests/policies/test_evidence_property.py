"""Properties of the evidence-based grade policy: a strictly improving window never halves the LR or rolls
back, whatever its letter; a drop inside the noise interval never rolls back."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agents.evidence import assess, wilson_interval
from agents.evidence_model import Evidence
from agents.metrics import EpochRecord, MetricWindow
from policies.decide import decide
from policies.decisions import Action, Decision, PhasePosition, Trigger
from settings.policies import EvidenceThresholds, PolicyLimits
from tests.policies.histories import fresh, position

letters = st.sampled_from(["A", "B", "C", "D", "F"])
sizes = st.integers(20, 400)
where = st.builds(
    position,
    planned=st.integers(2, 40),
    left=st.integers(0, 5),
    per_epoch=st.one_of(st.none(), st.floats(1.0, 600.0)),
    seconds_left=st.one_of(st.none(), st.floats(-100.0, 30_000.0)),
)
grades = st.tuples(letters, st.integers(0, 100), st.integers(0, 30), where)


def window_of(
    val_losses: list[float], exact: list[float], validity: list[float], n: int, steps: list[float]
) -> MetricWindow:
    evaluations = [
        EpochRecord(epoch=2 * i + 1, val_loss=v, exact_match=x, format_validity=f, lr=1e-3, n=n)
        for i, (v, x, f) in enumerate(zip(val_losses, exact, validity, strict=True))
    ]
    return MetricWindow(
        specialist="ascii",
        phase="main",
        epochs=evaluations[-1:],
        earlier_epochs=evaluations[:-1],
        step_losses=steps,
        step_grad_norms=[1.0 for _ in steps],
    )


@st.composite
def improving_windows(draw: st.DrawFn) -> MetricWindow:
    """Each evaluation lowers the val loss by more than plateau_tolerance; exact match and validity never
    fall; the step losses decrease smoothly."""
    count = draw(st.integers(2, 8))
    tolerance = EvidenceThresholds().plateau_tolerance
    losses = [draw(st.floats(0.5, 10.0))]
    for _ in range(count - 1):
        losses.append(losses[-1] * (1 - draw(st.floats(tolerance * 1.01, 0.5))))
    n = draw(sizes)
    exact = sorted(draw(st.lists(st.integers(0, n), min_size=count, max_size=count)))
    valid = sorted(draw(st.lists(st.integers(0, n), min_size=count, max_size=count)))
    start, decay = draw(st.floats(0.5, 10.0)), draw(st.floats(0.9, 0.999))
    steps = [start * decay**i for i in range(draw(st.integers(0, 120)))]
    return window_of(losses, [c / n for c in exact], [c / n for c in valid], n, steps)


def decided(window: MetricWindow, grade: tuple[str, int, int, PhasePosition]) -> tuple[Evidence, Decision]:
    """The evidence of `window` and the decision on it, graded `grade` (letter, score, epoch, where)."""
    letter, score, epoch, where = grade
    evidence = assess(window)
    trigger = Trigger.grade(letter, score, epoch=epoch, evidence=evidence, position=where)  # type: ignore[arg-type]
    return evidence, decide(trigger, fresh(), PolicyLimits())


@settings(max_examples=120, deadline=None)
@given(window=improving_windows(), grade=grades)
def test_a_strictly_improving_window_never_halves_or_rolls_back(
    window: MetricWindow, grade: tuple[str, int, int, PhasePosition]
) -> None:
    evidence, decision = decided(window, grade)
    assert evidence.verdict == "improving", evidence.reasons
    assert decision.action not in (Action.HALVE_LR, Action.ROLLBACK, Action.STOP_EARLY), decision.reason
    assert decision.params_after.peak_lr == decision.params_before.peak_lr


@st.composite
def drops_within_noise(draw: st.DrawFn) -> MetricWindow:
    """Any val losses up to loss_regression_tolerance above the best before the last (a rise beyond it is a
    regression of its own); the last exact match and validity are below the best before them, but their
    intervals still overlap (the drop is inside the noise)."""
    count = draw(st.integers(2, 8))
    n = draw(sizes)
    thresholds = EvidenceThresholds()
    z = thresholds.z
    earlier_losses = draw(st.lists(st.floats(0.1, 10.0), min_size=count - 1, max_size=count - 1))
    # Just under the tolerance: at it, rounding may tip the rise over (its boundary row is in
    # tests/agents/test_loss_regression.py, on exact binary fractions).
    ceiling = min(earlier_losses) * (1 + thresholds.loss_regression_tolerance) * (1 - 1e-9)
    losses = [*earlier_losses, draw(st.floats(0.1, ceiling))]
    series = []
    for _ in range(2):
        earlier = draw(st.lists(st.integers(0, n), min_size=count - 1, max_size=count - 1))
        best = max(earlier)
        last = draw(st.integers(0, best))
        assume(wilson_interval(last / n, n, z)[1] >= wilson_interval(best / n, n, z)[0])
        series.append([c / n for c in [*earlier, last]])
    steps = draw(st.lists(st.floats(0.1, 10.0), max_size=80))
    return window_of(losses, series[0], series[1], n, steps)


@settings(max_examples=120, deadline=None)
@given(window=drops_within_noise(), grade=grades)
def test_a_regression_inside_the_noise_never_rolls_back(
    window: MetricWindow, grade: tuple[str, int, int, PhasePosition]
) -> None:
    evidence, decision = decided(window, grade)
    assert evidence.verdict != "regressing"
    assert decision.action is not Action.ROLLBACK
