"""The Supervisor in-process, without Ray: real Trainers in threads report to it, real Watchdogs grade."""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.supervisor import Supervisor
from control.run_files import DECISIONS_FILE
from control.run_state import RunState, SpecialistState, load_run_state
from policies.decision_log import Outcome, read_log
from policies.decisions import INTERVENTIONS
from settings.run import RunConfig
from tests.actors.inprocess import ThreadWorkers, build, events, fast, log_lines, run_to_end, wait_until
from tests.actors.run_configs import merged, tiny_run_data

NAN_STEP = 3
OOM_STEP = 2
HANG_STEP = 4
CRASH_STEP = 3
# How long a tiny one-epoch specialist may take to show what a test waits for.
QUICK_S = 8.0
STALL_SECONDS = 3.0
# Long enough that the controls always reach a trainer that is still training.
LONG_PHASES = [{"name": "first", "epochs": 40}, {"name": "second", "epochs": 40}]


class LateWatchdogWorkers(ThreadWorkers):
    """A watchdog slower than the rest of its phase (the LLM grader may take its whole timeout, a watchdog
    actor may still be starting): grades of `late_phase` come back only once the next phase has begun."""

    late_phase = "first"
    next_phase = "second"

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        if window["phase"] == self.late_phase:
            assert self.supervisor is not None
            specs = self.supervisor.state.specialists
            wait_until(lambda: specs[specialist].phase == self.next_phase, f"{specialist}'s next phase")
        return super().grade(specialist, window)


class FaultRecordingSupervisor(Supervisor):
    """The real supervisor; it also keeps every fault report it answered, so a test can replay them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.fault_reports: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        super().__init__(*args, **kwargs)

    def decide_fault(self, specialist: str, fault: dict[str, Any]) -> dict[str, Any]:
        answer = super().decide_fault(specialist, fault)
        self.fault_reports.append((specialist, copy.deepcopy(fault), answer))
        return answer


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the module's runs, so the builtin base and the foundation are built once."""
    return tmp_path_factory.mktemp("inprocess")


@pytest.fixture(scope="module")
def fault_run(output_dir: Path) -> tuple[FaultRecordingSupervisor, ThreadWorkers, RunConfig]:
    """ascii gets a NaN loss at step 3 and runic an OOM at step 2; both must still finish."""
    data = merged(
        fast(tiny_run_data(output_dir, "faults")),
        {
            "specialists": {
                "ascii": {"faults": {"main": {"nan_at_step": NAN_STEP}}},
                "runic": {"faults": {"main": {"oom_at_step": OOM_STEP}}},
            }
        },
    )
    supervisor, workers, config = build(data, FaultRecordingSupervisor)
    run_to_end(supervisor, workers)
    return supervisor, workers, config  # type: ignore[return-value]


def test_every_specialist_finishes_despite_the_faults(fault_run: Any) -> None:
    supervisor, _, _ = fault_run
    state = supervisor.status()
    assert state["status"] == "finished"
    assert {name: spec["state"] for name, spec in state["specialists"].items()} == {
        "foundation": "finished",
        "ascii": "finished",
        "runic": "finished",
    }


def test_decisions_are_logged_before_their_outcomes(fault_run: Any) -> None:
    _, _, config = fault_run
    lines = log_lines(config.run_dir())
    decided = [line["decision_id"] for line in lines if line["kind"] == "decision"]
    assert len(decided) == len(set(decided)), "a decision was written twice"
    for decision_id in decided:
        kinds = [line["kind"] for line in lines if line["decision_id"] == decision_id]
        assert kinds == ["decision", "outcome"], (decision_id, kinds)
    assert len(lines) == 2 * len(decided)


def test_every_grade_has_a_logged_decision(fault_run: Any) -> None:
    _, _, config = fault_run
    records = read_log(config.run_dir() / DECISIONS_FILE)
    for name in ("ascii", "runic"):
        grades = events(config.run_dir(), name, "grade")
        assert [grade["epoch"] for grade in grades] == [0, 1]  # watchdog every epoch, 2 epochs
        graded = [r for r in records if r.specialist == name and r.trigger.kind == "grade"]
        assert [(r.epoch, r.grade.score if r.grade else None) for r in graded] == [
            (grade["epoch"], grade["score"]) for grade in grades
        ]
        assert all(r.grade_source == "rubric" and r.fallback_reason for r in graded)


def test_a_first_nan_rolls_back_at_the_same_lr(fault_run: Any) -> None:
    supervisor, _, config = fault_run
    records = read_log(config.run_dir() / DECISIONS_FILE)
    (nan,) = [r for r in records if r.trigger.kind == "non_finite"]
    assert (nan.specialist, nan.step, nan.action) == ("ascii", NAN_STEP, "rollback")
    assert nan.checkpoint == "last_good"
    assert nan.params_after.peak_lr == nan.params_before.peak_lr  # the phase's first non-finite step: LR kept
    assert nan.params_before.peak_lr == config.training.learning_rate
    assert nan.outcome is not None and nan.outcome.detail.startswith("trainer told to rollback")
    # The trainer applied it: every later step ran at the same peak LR.
    assert supervisor.night.trackers["ascii"].params.peak_lr == nan.params_after.peak_lr
    losses = [event["loss"] for event in events(config.run_dir(), "ascii", "step")]
    assert losses and all(loss == loss for loss in losses), "a NaN step was applied"


def test_oom_shrinks_the_micro_batch_and_keeps_the_effective_batch(fault_run: Any) -> None:
    _, _, config = fault_run
    records = read_log(config.run_dir() / DECISIONS_FILE)
    (oom,) = [r for r in records if r.trigger.kind == "oom"]
    before, after = oom.params_before, oom.params_after
    assert (oom.specialist, oom.step, oom.action) == ("runic", OOM_STEP, "shrink_batch")
    assert (after.micro_batch, after.grad_accum) == (before.micro_batch // 2, before.grad_accum * 2)
    assert after.micro_batch * after.grad_accum == before.micro_batch * before.grad_accum
    steps = events(config.run_dir(), "runic", "step")
    assert {(s["micro_batch"], s["grad_accum"]) for s in steps if s["step"] >= OOM_STEP} == {
        (after.micro_batch, after.grad_accum)
    }


def test_status_is_the_run_state(fault_run: Any) -> None:
    supervisor, _, config = fault_run
    status = supervisor.status()
    assert status.pop("queue") == []  # nothing was dropped into the inbox
    assert status == RunState.model_validate(status).model_dump(mode="json")
    assert set(status) == set(RunState.model_fields)
    assert list(status["specialists"]) == ["foundation", "ascii", "runic"]
    for name in ("ascii", "runic"):
        spec = status["specialists"][name]
        assert set(spec) == set(SpecialistState.model_fields)
        assert (spec["phase"], spec["phases_total"], spec["epochs_total"]) == ("main", 1, 2)
        assert spec["finished_phases"] == ["main"]
        assert spec["last_grade"]["source"] == "rubric"
        assert spec["interventions"] >= 1  # the fault's rollback or shrink at least
    on_disk = load_run_state(config.run_dir())
    assert on_disk is not None and on_disk.model_dump(mode="json")["specialists"] == status["specialists"]


def test_a_restarted_supervisor_continues_from_disk_without_duplicating(fault_run: Any) -> None:
    first, _, config = fault_run
    log_before = (config.run_dir() / DECISIONS_FILE).read_bytes()
    assert len(first.fault_reports) == 2
    second, workers, _ = build(config.model_dump(mode="json"))
    assert second.resumed
    assert second.status()["specialists"] == first.status()["specialists"]
    assert list(second.night.book.records) == list(first.night.book.records)
    for specialist, fault, answer in first.fault_reports:
        assert second.decide_fault(specialist, copy.deepcopy(fault)) == answer
    assert (config.run_dir() / DECISIONS_FILE).read_bytes() == log_before
    second.start()  # a finished run stays finished: nothing is launched again
    time.sleep(0.3)
    second.shutdown()
    assert workers.threads == {}
    assert second.status()["status"] == "finished"


def test_controls_are_decisions_that_steer_the_trainer(output_dir: Path) -> None:
    data = merged(
        fast(tiny_run_data(output_dir, "controls", specialists=("ascii",))),
        {"specialists": {"ascii": {"phases": LONG_PHASES}}},
    )
    supervisor, workers, config = build(data)
    supervisor.start()
    spec: Callable[[], dict[str, Any]] = lambda: supervisor.status()["specialists"]["ascii"]  # noqa: E731
    wait_until(lambda: spec()["state"] == "running" and spec()["step"] >= 2, "ascii to train")

    checkpoints = len(supervisor.night.trackers["ascii"].checkpoints)
    pause = supervisor.control("ascii", "pause")
    assert spec()["state"] == "paused"
    tracker = supervisor.night.trackers["ascii"]
    wait_until(lambda: len(tracker.checkpoints) > checkpoints, "the pause checkpoint")
    paused_at = spec()["step"]
    time.sleep(1.0)
    assert spec()["step"] == paused_at, "the trainer kept training while paused"

    resume = supervisor.control("ascii", "resume")
    assert spec()["state"] == "running"
    wait_until(lambda: spec()["step"] > paused_at, "training to go on after resume")

    skip = supervisor.control("ascii", "skip")
    wait_until(lambda: spec()["phase"] == "second", "the second phase")
    stop = supervisor.control("ascii", "stop")
    wait_until(lambda: supervisor.status()["status"] != "running", "the run to end")
    supervisor.shutdown()
    workers.join(timeout_s=30)

    assert spec()["state"] == "stopped"
    assert [r["action"] for r in (pause, resume, skip, stop)] == [
        "pause", "resume", "skip_phase", "abort_specialist",
    ]  # fmt: skip
    controls = [r for r in read_log(config.run_dir() / DECISIONS_FILE) if r.trigger.kind == "control"]
    assert [r.decision_id for r in controls] == [r["decision_id"] for r in (pause, resume, skip, stop)]
    for record, action in zip(controls, ("pause", "resume", "skip", "stop"), strict=True):
        assert record.reason.startswith(f"user asked to {action}")
        assert record.outcome is not None and record.outcome.detail == f"{action} sent to trainer:ascii"
    phases = [(e["phase"], e["status"]) for e in events(config.run_dir(), "ascii", "phase")]
    assert ("first", "skipped") in phases and ("second", "stopped") in phases
    # User controls spend no intervention budget; only the policies' own decisions do.
    policy_made = [r for r in read_log(config.run_dir() / DECISIONS_FILE) if r.trigger.kind != "control"]
    policy_interventions = sum(r.action in INTERVENTIONS for r in policy_made if r.specialist == "ascii")
    assert spec()["interventions"] == policy_interventions


def test_a_silent_trainer_is_restarted_and_resumes(output_dir: Path) -> None:
    data = merged(
        fast(tiny_run_data(output_dir, "stall", specialists=("ascii",))),
        {
            "specialists": {"ascii": {"faults": {"main": {"hang_at_step": HANG_STEP}}}},
            "policies": {"stall_seconds": STALL_SECONDS},
        },
    )
    supervisor, _, config = build(data)
    state = run_to_end(supervisor, supervisor.workers)  # type: ignore[arg-type]
    assert state["specialists"]["ascii"]["state"] == "finished"
    (stall,) = [r for r in read_log(config.run_dir() / DECISIONS_FILE) if r.trigger.kind == "stall"]
    assert stall.action == "restart_trainer" and stall.step == HANG_STEP - 1
    assert stall.trigger.seconds_since_heartbeat is not None
    assert stall.trigger.seconds_since_heartbeat >= STALL_SECONDS
    assert stall.outcome is not None and "resumes from its newest valid checkpoint" in stall.outcome.detail
    phases = [e["status"] for e in events(config.run_dir(), "ascii", "phase")]
    # The silenced trainer's ending is never heard (as when Ray kills a process); the new one resumes.
    assert phases == ["started", "started", "finished"]
    steps = [e["step"] for e in events(config.run_dir(), "ascii", "step")]
    assert steps == sorted(set(steps)), "the restarted trainer retrained steps it had already done"


def test_controls_refuse_what_cannot_be_done(output_dir: Path) -> None:
    supervisor, _, _ = build(fast(tiny_run_data(output_dir, "refusals", specialists=("ascii",))))
    unknown = r"no specialist 'nobody' in run 'refusals'; known: foundation, ascii"
    with pytest.raises(ValueError, match=unknown):
        supervisor.control("nobody", "pause")
    with pytest.raises(ValueError, match=r"unknown control 'rewind'; use pause, resume, stop or skip"):
        supervisor.control("ascii", "rewind")
    supervisor.state.specialists["ascii"].state = "finished"
    with pytest.raises(ValueError, match=r"ascii is already finished; nothing to stop"):
        supervisor.control("ascii", "stop")
    assert read_log(supervisor.log_path) == []


def test_a_crashed_trainer_is_started_again(output_dir: Path) -> None:
    data = merged(
        fast(tiny_run_data(output_dir, "crash", specialists=("ascii",), epochs=1)),
        {"specialists": {"ascii": {"faults": {"main": {"crash_at_step": CRASH_STEP}}}}},
    )
    supervisor, workers, config = build(data)
    supervisor.start()
    try:
        spec: Callable[[], dict[str, Any]] = lambda: supervisor.status()["specialists"]["ascii"]  # noqa: E731
        wait_until(lambda: spec()["crash_restarts"] == 1, "the crash decision")
        wait_until(lambda: spec()["state"] == "finished", "ascii to resume and finish", timeout_s=QUICK_S)
    finally:
        supervisor.shutdown()
        workers.join(timeout_s=30)
    (crash,) = [r for r in read_log(config.run_dir() / DECISIONS_FILE) if r.trigger.kind == "crash"]
    assert crash.action == "restart_trainer" and "InjectedCrash" in crash.trigger.detail


def test_a_specialist_paused_before_its_turn_still_trains(output_dir: Path) -> None:
    data = merged(
        fast(tiny_run_data(output_dir, "early-pause", epochs=1)),
        {"policies": {"stall_seconds": STALL_SECONDS}},
    )
    supervisor, workers, _ = build(data)  # one specialist at a time: runic waits for ascii
    supervisor.start()
    try:
        specs: Callable[[], dict[str, Any]] = lambda: supervisor.status()["specialists"]  # noqa: E731
        wait_until(lambda: specs()["ascii"]["step"] >= 1, "ascii to train")
        assert specs()["runic"]["state"] == "pending"
        supervisor.control("runic", "pause")
        supervisor.control("runic", "resume")
        wait_until(lambda: supervisor.status()["status"] != "running", "the run to end", timeout_s=QUICK_S)
    finally:
        supervisor.shutdown()
        workers.join(timeout_s=30)
    assert {name: spec["state"] for name, spec in specs().items() if name != "foundation"} == {
        "ascii": "finished",
        "runic": "finished",
    }


def test_a_late_grade_stays_with_the_phase_it_graded(output_dir: Path) -> None:
    data = merged(
        fast(tiny_run_data(output_dir, "late-grade", ("ascii",))),
        {
            "specialists": {
                "ascii": {"phases": [{"name": "first", "epochs": 2}, {"name": "second", "epochs": 1}]}
            }
        },
    )
    supervisor, workers, config = build(data, workers_cls=LateWatchdogWorkers)
    run_to_end(supervisor, workers)
    records = read_log(config.run_dir() / DECISIONS_FILE)
    graded = [r for r in records if r.trigger.kind == "grade" and r.specialist == "ascii"]
    grades = events(config.run_dir(), "ascii", "grade")
    assert sorted((r.phase, r.epoch) for r in graded) == sorted((g["phase"], g["epoch"]) for g in grades)
    for record in graded:
        if record.phase == "first":
            assert record.outcome is not None and record.outcome.detail.startswith("not applied")


def test_in_memory_decisions_hold_their_outcome(output_dir: Path) -> None:
    supervisor, _, _ = build(fast(tiny_run_data(output_dir, "outcome", specialists=("ascii",))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic's serializer warning would mean a malformed record
        record = supervisor.control("ascii", "stop")
    assert record["outcome"]["detail"] == "stop sent to trainer:ascii"
    assert isinstance(supervisor.night.book.records[record["decision_id"]].outcome, Outcome)


class PhaseEndWatchdogWorkers(ThreadWorkers):
    """A watchdog that answers only once the graded phase has completed (as a last epoch's grade may)."""

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        if specialist != "foundation":
            assert self.supervisor is not None
            spec = self.supervisor.state.specialists[specialist]
            wait_until(lambda: window["phase"] in spec.finished_phases, f"{specialist}'s phase to end")
        return super().grade(specialist, window)


def test_a_grade_landing_after_its_phase_completed_is_not_applied(output_dir: Path) -> None:
    data = fast(tiny_run_data(output_dir, "after-end", ("ascii",)))
    supervisor, workers, config = build(data, workers_cls=PhaseEndWatchdogWorkers)
    run_to_end(supervisor, workers)
    graded = [
        r
        for r in read_log(config.run_dir() / DECISIONS_FILE)
        if r.trigger.kind == "grade" and r.specialist == "ascii"
    ]
    assert graded
    for record in graded:
        assert record.outcome is not None and record.outcome.detail.startswith("not applied"), record
