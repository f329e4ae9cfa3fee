"""Property test: no sequence of events drives the LR below its minimum, the micro-batch below its minimum,
the interventions past their limits or a phase's extensions past max_extra_epochs; the effective batch never
changes; an abort is final."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.decide import decide
from policies.decisions import Action, TrainParams, Trigger, TriggerKind
from policies.history import CheckpointInfo, History
from settings.policies import PolicyLimits
from tests.policies.histories import graded, position


@dataclass(frozen=True)
class NewCheckpoint:
    val_loss: float


@dataclass(frozen=True)
class NewPhase:
    name: str


losses = st.one_of(st.floats(min_value=0.0, max_value=100.0), st.sampled_from([math.nan, math.inf]))

triggers = st.one_of(
    st.builds(Trigger.grade, st.sampled_from(["A", "B", "C", "D", "F"]), st.integers(0, 100),
              st.integers(0, 10_000)),
    st.builds(Trigger.non_finite, st.sampled_from(["loss=nan", "grad_norm=inf"]), st.integers(0, 10_000)),
    st.builds(Trigger.divergence, losses, st.floats(min_value=0.0, max_value=10.0), st.integers(0, 10_000)),
    st.builds(Trigger.oom, st.just("CUDA out of memory"), st.integers(0, 10_000)),
    st.builds(Trigger.stall, st.floats(min_value=0.0, max_value=5000.0), st.integers(0, 10_000)),
    st.builds(Trigger.crash, st.just("RuntimeError"), st.integers(0, 10_000)),
    st.builds(Trigger.control, st.sampled_from(list(Action))),
    st.builds(graded, st.sampled_from(["improving", "plateaued", "regressing", "unstable", "inconclusive"]),
              epoch=st.integers(0, 12), beyond_doubt=st.booleans(),
              where=st.builds(position, planned=st.integers(1, 12), left=st.integers(0, 3),
                              per_epoch=st.one_of(st.none(), st.floats(1.0, 1000.0)),
                              seconds_left=st.one_of(st.none(), st.floats(-100.0, 10_000.0)))),
    st.builds(Trigger.spikes, st.integers(0, 6), st.just("loss spike"), st.integers(0, 10_000)),
)

events = st.lists(
    st.one_of(
        triggers, triggers, triggers,
        st.builds(NewCheckpoint, losses),
        st.builds(NewPhase, st.sampled_from(["phase1", "phase2", "phase3"])),
    ),
    max_size=60,
)

limits_strategy = st.builds(
    PolicyLimits,
    min_lr=st.sampled_from([1e-6, 1e-5, 5e-5]),
    min_micro_batch=st.integers(1, 4),
    max_interventions_per_specialist=st.integers(0, 10),
    max_interventions_per_phase=st.integers(0, 6),
    max_crash_restarts=st.integers(0, 4),
    divergence_k=st.floats(min_value=1.5, max_value=5.0),
    stall_seconds=st.floats(min_value=1.0, max_value=1000.0),
    recovery_tolerance=st.floats(min_value=0.0, max_value=0.2),
    spike_skips=st.integers(1, 5),
    max_extra_epochs=st.integers(0, 4),
)


def apply(event: object, history: History) -> History:
    match event:
        case NewCheckpoint(val_loss=val_loss):
            step = len(history.checkpoints) * 10
            return history.with_checkpoint(CheckpointInfo(step=step, epoch=len(history.checkpoints),
                                                          val_loss=val_loss))
        case NewPhase(name=name):
            return history.in_phase(name)
    raise AssertionError(f"not an event: {event!r}")


@settings(max_examples=200, deadline=None)
@given(events=events, limits=limits_strategy, lr_factor=st.floats(min_value=1.0, max_value=1000.0),
       micro_batch=st.integers(1, 64), grad_accum=st.integers(1, 8))
def test_no_sequence_of_events_breaks_a_bound(events: list[object], limits: PolicyLimits, lr_factor: float,
                                              micro_batch: int, grad_accum: int) -> None:
    start = TrainParams(peak_lr=limits.min_lr * lr_factor,
                        micro_batch=max(micro_batch, limits.min_micro_batch), grad_accum=grad_accum)
    history = History(specialist="ascii_specialist", phase="phase1", params=start)
    aborted_params: TrainParams | None = None
    halvings_since_checkpoint = 0
    for event in events:
        if not isinstance(event, Trigger):
            history = apply(event, history)
            if isinstance(event, NewCheckpoint):
                halvings_since_checkpoint = 0
            continue
        decision = decide(event, history, limits)
        if aborted_params is not None:
            assert decision.action is Action.ABORT_SPECIALIST
            assert decision.params_after == aborted_params
        automatic_halving = decision.halves_lr and event.kind is not TriggerKind.CONTROL
        halvings_since_checkpoint += automatic_halving
        history = history.after(decision)
        if decision.action is Action.ABORT_SPECIALIST:
            aborted_params = history.params

        params = history.params
        assert params.peak_lr >= limits.min_lr
        assert params.micro_batch >= limits.min_micro_batch >= 1
        assert params.effective_batch == start.effective_batch
        assert history.interventions() <= limits.max_interventions_per_specialist
        for phase in {past.phase for past in history.decisions}:
            assert history.interventions(phase) <= limits.max_interventions_per_phase
        assert history.crash_restarts() <= limits.max_crash_restarts
        # The cool-down: two policy halvings always have a checkpoint between them.
        assert halvings_since_checkpoint <= 1
        assert history.extra_epochs() <= limits.max_extra_epochs
        assert decision.reason
