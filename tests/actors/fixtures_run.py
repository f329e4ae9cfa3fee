"""A seeded fake run directory (two specialists, grades, interventions) for the report and view tests."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.grade import Letter
from policies.decision_log import DecisionRecord, GradeRef, OutcomeRecord, append_record
from policies.decisions import Action, CheckpointChoice, TrainParams, Trigger

RUN_START = 1_700_000_000.0
STEP_SECONDS = 1.5
STEPS_PER_EPOCH = 20
# (phase, epochs, grade every N epochs): 10 epochs x 20 steps = 200 steps per specialist.
PHASES: tuple[tuple[str, int, int], ...] = (("phase1_general", 4, 2), ("phase2_specialist", 6, 3))
BASE_PARAMS = {"peak_lr": 2e-4, "micro_batch": 4, "grad_accum": 4}


@dataclass
class FakeRun:
    """What the fixture wrote, so tests can compare readers against numbers they did not compute."""

    run: str
    run_dir: Path
    specialists: tuple[str, ...]
    pending: tuple[str, ...]
    interventions: dict[str, dict[str, int]]
    best_exact_match: dict[str, float]
    final_exact_match: dict[str, float]
    grades: dict[str, list[dict[str, Any]]]
    decisions: list[dict[str, Any]]
    step_events: dict[str, int] = field(default_factory=dict)
    torn_specialist: str | None = None


@dataclass
class _Scenario:
    """One specialist's night: its grade scores and sources, and which faults it suffers."""

    scores: tuple[float, float, float, float]
    sources: tuple[tuple[str, str | None], ...]
    rollback_at_step: int | None = None
    shrink_at_step: int | None = None


SCENARIOS: dict[str, _Scenario] = {
    "ascii": _Scenario(
        scores=(72.0, 64.0, 86.0, 96.0),
        sources=(("rubric", None), ("llm", None), ("rubric", "LLM timed out after 20 s"), ("llm", None)),
        rollback_at_step=150,
    ),
    "runic": _Scenario(
        scores=(81.0, 71.0, 83.0, 95.0),
        sources=(("llm", None), ("rubric", "no ANTHROPIC_API_KEY set"), ("llm", None), ("llm", None)),
        shrink_at_step=90,
    ),
}
# What policies.decide answers to a grade of each letter (F never happens in this fixture).
GRADE_ACTIONS = {
    "A": Action.CONTINUE, "B": Action.CONTINUE, "C": Action.FLAG_FOR_REVIEW, "D": Action.HALVE_LR,
}


def _letter(score: float) -> Letter:
    for letter, floor in (("A", 90), ("B", 80), ("C", 70), ("D", 60)):
        if score >= floor:
            return letter  # type: ignore[return-value]
    return "F"


def _write_jsonl(path: Path, rows: list[dict[str, Any]], torn_tail: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    path.write_text(text + (torn_tail or ""), encoding="utf-8")


class _Writer:
    """Builds one specialist's events and decision records step by step."""

    def __init__(self, run: str, name: str, index: int, seed: int) -> None:
        self.run = run
        self.name = name
        self.rng = random.Random(seed * 1000 + index)
        self.events: list[dict[str, Any]] = []
        self.records: list[tuple[float, DecisionRecord]] = []
        self.params = TrainParams(**BASE_PARAMS)
        self.time = RUN_START + index * 0.25
        self.counts: dict[str, int] = {}
        self.exact_matches: list[float] = []
        self.grades: list[dict[str, Any]] = []

    def tick(self) -> float:
        self.time += STEP_SECONDS
        return self.time

    def step_event(self, phase: str, epoch: int, step: int, loss: float) -> None:
        self.events.append({
            "type": "step", "time": self.tick(), "phase": phase, "epoch": epoch, "step": step, "loss": loss,
            "lr": self.params.peak_lr, "micro_batch": self.params.micro_batch,
            "grad_accum": self.params.grad_accum,
            "tokens_per_s": round(1200 + self.rng.gauss(0, 40), 1),
        })

    def loss_at(self, step: int) -> float:
        return 2.5 * math.exp(-step / 70) + 0.3 + self.rng.gauss(0, 0.06)

    def decide(self, phase: str, trigger: Trigger, action: Action, reason: str, *,
               grade: dict[str, Any] | None = None, checkpoint: CheckpointChoice | None = None,
               **changes: Any) -> None:
        before = self.params
        self.params = before.model_copy(update=changes)
        when = self.tick()
        record = DecisionRecord(
            decision_id=f"{self.name}-{len(self.records) + 1:03d}",
            time=datetime.fromtimestamp(when, UTC), run=self.run, specialist=self.name, phase=phase,
            epoch=trigger.epoch, step=trigger.step, trigger=trigger,
            grade=GradeRef(score=int(grade["score"]), letter=grade["letter"]) if grade else None,
            grade_source=grade["source"] if grade else None,
            fallback_reason=grade["fallback_reason"] if grade else None,
            action=action, params_before=before, params_after=self.params, checkpoint=checkpoint,
            reason=reason,
        )
        self.records.append((when, record))
        if action != Action.CONTINUE:
            self.counts[action.value] = self.counts.get(action.value, 0) + 1

    def epoch_end(self, phase: str, epoch: int, global_epoch: int, step: int, val_loss: float) -> None:
        exact = min(0.97, round(0.08 + 0.085 * global_epoch + self.rng.gauss(0, 0.02), 4))
        self.exact_matches.append(exact)
        self.events.append({
            "type": "epoch", "time": self.tick(), "phase": phase, "epoch": epoch, "step": step,
            "val_loss": round(val_loss, 4), "exact_match": exact,
            "format_validity": min(1.0, round(0.5 + 0.05 * global_epoch, 4)),
            "per_task": {"convert": {"exact_match": exact, "format_validity": 1.0}},
        })

    def grade(self, phase: str, epoch: int, step: int, score: float, source: tuple[str, str | None]) -> None:
        letter = _letter(score)
        grade = {"type": "grade", "time": self.tick(), "phase": phase, "epoch": epoch, "step": step,
                 "score": score, "letter": letter, "source": source[0], "fallback_reason": source[1]}
        self.events.append(grade)
        self.grades.append(grade)
        action = GRADE_ACTIONS[letter]
        halved = {"peak_lr": self.params.peak_lr / 2} if action == Action.HALVE_LR else {}
        words = {Action.CONTINUE: "on track", Action.FLAG_FOR_REVIEW: "val accuracy flat; flag for review",
                 Action.HALVE_LR: "loss plateaued for 2 epochs; halve the LR"}
        self.decide(phase, Trigger.grade(letter, score, step=step, epoch=epoch), action,
                    f"grade {letter} ({score:g}/100) at epoch {epoch + 1}: {words[action]}", grade=grade,
                    **halved)


def _specialist(writer: _Writer, scenario: _Scenario) -> None:
    step, global_epoch, grade_index = 0, 0, 0
    for phase, epochs, grade_every in PHASES:
        writer.events.append({"type": "phase", "time": writer.tick(), "phase": phase, "status": "started",
                              "epoch": 1, "step": step})
        for epoch in range(1, epochs + 1):
            global_epoch += 1
            losses: list[float] = []
            for _ in range(STEPS_PER_EPOCH):
                step += 1
                if step == scenario.shrink_at_step:
                    writer.decide(phase, Trigger.oom("CUDA out of memory", step=step, epoch=epoch),
                                  Action.SHRINK_BATCH,
                                  "out of memory at micro-batch 4: halve it, double accumulation",
                                  checkpoint="last_good", micro_batch=writer.params.micro_batch // 2,
                                  grad_accum=writer.params.grad_accum * 2)
                if step == scenario.rollback_at_step:
                    writer.step_event(phase, epoch, step, float("nan"))
                    writer.decide(phase, Trigger.non_finite("loss is nan", step=step, epoch=epoch),
                                  Action.ROLLBACK, f"non-finite loss at step {step}: roll back, halve the LR",
                                  checkpoint="last_good", peak_lr=writer.params.peak_lr / 2)
                    # Training resumes from the epoch's checkpoint, so the steps after it are logged again.
                    checkpoint_step = step - step % STEPS_PER_EPOCH
                    for replay in range(checkpoint_step + 1, step):
                        writer.step_event(phase, epoch, replay, round(writer.loss_at(replay), 5))
                loss = round(writer.loss_at(step), 5)
                losses.append(loss)
                writer.step_event(phase, epoch, step, loss)
            writer.epoch_end(phase, epoch, global_epoch, step, sum(losses) / len(losses) + 0.05)
            if epoch % grade_every == 0:
                writer.grade(phase, epoch, step, scenario.scores[grade_index], scenario.sources[grade_index])
                grade_index += 1
        writer.events.append({"type": "phase", "time": writer.tick(), "phase": phase, "status": "finished",
                              "epoch": epochs, "step": step})


def _write_decision_log(path: Path, writers: list[_Writer]) -> list[dict[str, Any]]:
    """Each decision then its outcome, in time order, through the real log writer; the last has no outcome."""
    records = sorted((pair for writer in writers for pair in writer.records), key=lambda pair: pair[0])
    written = []
    for index, (when, record) in enumerate(records):
        append_record(path, record)
        if index < len(records) - 1:
            outcome = OutcomeRecord(decision_id=record.decision_id, ok=True,
                                    detail=f"{record.action.value} done",
                                    time=datetime.fromtimestamp(when + 0.5, UTC))
            append_record(path, outcome)
        written.append(record.model_dump(mode="json"))
    return written


def write_fake_run(root: Path, run: str = "night-01", seed: int = 7, pending: tuple[str, ...] = (),
                   torn_tail: bool = True) -> FakeRun:
    """Write checkpoints-like `root/run/` for specialists ascii and runic (and `pending` ones with no data).

    With `torn_tail`, the runic events file ends in half a line, as if the trainer were writing it now.
    """
    run_dir = root / run
    names = tuple(SCENARIOS)
    fake = FakeRun(run=run, run_dir=run_dir, specialists=names, pending=pending, interventions={},
                   best_exact_match={}, final_exact_match={}, grades={}, decisions=[])
    states: dict[str, Any] = {}
    writers = []
    for index, name in enumerate(names):
        writer = _Writer(run, name, index, seed)
        _specialist(writer, SCENARIOS[name])
        writers.append(writer)
        tail = '{"type": "step", "time": 17' if torn_tail and name == "runic" else None
        fake.torn_specialist = "runic" if torn_tail else None
        _write_jsonl(run_dir / "events" / f"{name}.jsonl", writer.events, torn_tail=tail)
        fake.interventions[name] = writer.counts
        fake.best_exact_match[name] = max(writer.exact_matches)
        fake.final_exact_match[name] = writer.exact_matches[-1]
        fake.grades[name] = writer.grades
        fake.step_events[name] = sum(1 for event in writer.events if event["type"] == "step")
        last_grade = writer.grades[-1]
        states[name] = {
            "state": "finished", "phase": PHASES[-1][0], "phase_index": len(PHASES) - 1,
            "phases_total": len(PHASES), "epoch": PHASES[-1][1], "epochs_total": PHASES[-1][1], "step": 200,
            "loss": [event for event in writer.events if event["type"] == "step"][-1]["loss"],
            "lr": writer.params.peak_lr, "micro_batch": writer.params.micro_batch,
            "grad_accum": writer.params.grad_accum,
            "last_grade": {key: last_grade[key] for key in ("score", "letter", "source")},
            "interventions": sum(writer.counts.values()), "eta_s": None, "reason": None,
            "finished_phases": [phase for phase, _, _ in PHASES],
        }
    for name in pending:
        states[name] = {
            "state": "pending", "phase": None, "phase_index": 0, "phases_total": 2, "epoch": 0,
            "epochs_total": 0, "step": 0, "loss": None, "lr": None, "micro_batch": None, "grad_accum": None,
            "last_grade": None, "interventions": 0, "eta_s": None, "reason": None, "finished_phases": [],
        }
    fake.decisions = _write_decision_log(run_dir / "decisions.jsonl", writers)
    finished_at = max(writer.time for writer in writers) + 5.0
    run_state = {"run": run, "config_path": "configs/demo.yaml", "started_at": RUN_START,
                 "updated_at": finished_at, "finished_at": finished_at, "status": "finished",
                 "specialists": states}
    (run_dir / "run_state.json").write_text(json.dumps(run_state, indent=2), encoding="utf-8")
    promoted = {
        "coordinator": {"path": "builtin:tiny", "kind": "base"},
        "specialists": {
            name: {"path": str(run_dir / name / "phase2_specialist" / "best"), "phase": "phase2_specialist",
                   "epoch": 6, "exact_match": fake.best_exact_match[name]}
            for name in names
        },
    }
    (run_dir / "promoted.json").write_text(json.dumps(promoted, indent=2), encoding="utf-8")
    return fake
