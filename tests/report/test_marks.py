"""The report's smaller parts: marks placed by time, fallbacks said once, the run's config copy, the
distance to target, and grade points kept apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from report.marks import fallback_lines, placed_marks, run_config_path
from report.morning import write_report
from report.plots import _mark_interventions, spread_offset
from report.targets import Target, run_thresholds, targets_of
from tests.actors.fixtures_run import write_fake_run


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


STEPS = [{"time": 100.0, "step": 1}, {"time": 110.0, "step": 2}, {"time": 120.0, "step": 3}]


def test_controls_and_jobs_are_placed_at_the_last_step_before_them() -> None:
    decisions = [
        {"action": "pause", "time": iso(115.0), "step": 0},
        {"action": "resume", "time": iso(120.0), "step": 0},  # exactly at a step: that step
        {"action": "start_job", "time": iso(500.0), "step": 0},
        {"action": "abort_specialist", "time": iso(99.0), "step": 0},  # before any step: not drawn
        {"action": "halve_lr", "time": iso(101.0), "step": 7},  # a policy's own step stays
    ]
    placed = placed_marks(decisions, STEPS)
    assert [(d["action"], d["step"]) for d in placed] == [
        ("pause", 2), ("resume", 3), ("start_job", 3), ("halve_lr", 7),
    ]  # fmt: skip


def test_the_loss_plot_legend_names_controls_and_jobs_as_such() -> None:
    axes = Figure().subplots()
    placed = (("pause", 2), ("start_job", 3), ("rollback", 1))
    marks = [{"action": action, "step": step} for action, step in placed]
    labels = sorted(handle.get_label() for handle in _mark_interventions([axes], marks))
    assert labels == ["intervention: rollback", "job: start_job", "user: pause"]


def test_each_fallback_reason_is_said_once_with_its_count() -> None:
    grades = [{"fallback_reason": "timeout"}, {"fallback_reason": None}, {"fallback_reason": "timeout"},
              {"fallback_reason": "no key"}]  # fmt: skip
    said = "The LLM grader fell back to the rubric 3×: timeout (2×); no key (1×)."
    assert fallback_lines(grades) == [said, ""]
    assert fallback_lines([{"fallback_reason": None}]) == []


def test_the_report_names_the_runs_own_config_copy(tmp_path: Path) -> None:
    ray_copy = "/tmp/ray/session_x/runtime_resources/working_dir_files/abc/configs/demo.yaml"
    assert run_config_path(tmp_path, ray_copy) == ray_copy  # no copy: what was recorded
    (tmp_path / "config.yaml").write_text("run: {name: night}\n")
    assert run_config_path(tmp_path, ray_copy) == str((tmp_path / "config.yaml").resolve())
    fake = write_fake_run(tmp_path / "runs")
    (fake.run_dir / "config.yaml").write_text("run: {name: night-01}\n")
    text = write_report(fake.run_dir).report_md.read_text()
    assert f"- **config**: {(fake.run_dir / 'config.yaml').resolve()}" in text


@pytest.mark.parametrize(("value", "distance", "text"), [
    (0.95, 0.0, "0.95: met (target 0.95)"),  # exactly at the bar: met
    (0.94, pytest.approx(0.01), "0.94: 0.01 short of 0.95"),
    (1.0, 0.0, "1.00: met (target 0.95)"),
    (None, None, "no data (target 0.95)"),
])  # fmt: skip
def test_distance_to_target(value: float | None, distance: object, text: str) -> None:
    target = Target("exact match (best)", 0.95, value)
    assert target.distance == distance
    assert target.text() == text


def test_targets_come_from_the_runs_config_and_the_report_shows_them(tmp_path: Path) -> None:
    thresholds, source = run_thresholds(tmp_path)
    defaults = "the rubric's defaults (config.yaml: FileNotFoundError)"
    assert (thresholds.accuracy_excellent, source) == (0.95, defaults)
    rubric = "grader: {rubric: {accuracy_excellent: 0.97, accuracy_good: 0.9}}\n"
    (tmp_path / "config.yaml").write_text(rubric)
    thresholds, source = run_thresholds(tmp_path)
    assert (thresholds.accuracy_excellent, source) == (0.97, "config.yaml (grader.rubric)")
    summary = {"best_exact_match": {"exact_match": 0.5}, "final_metrics": {"format_validity": 1.0}}
    texts = [t.text() for t in targets_of(summary, thresholds)]
    assert texts == ["0.50: 0.47 short of 0.97", "1.00: met (target 1.00)"]

    fake = write_fake_run(tmp_path / "runs")
    text = write_report(fake.run_dir).report_md.read_text()
    section = text.split("## Distance to target", 1)[1].split("\n## ", 1)[0]
    best = fake.best_exact_match["ascii"]
    expected = f"{best:.2f}: met" if best >= 0.95 else f"{best:.2f}: {0.95 - best:.2f} short of 0.95"
    assert f"| ascii | {expected}" in section


def test_grade_points_of_specialists_are_spread_apart() -> None:
    assert spread_offset(0, 1) == 0.0
    offsets = [spread_offset(index, 3) for index in range(3)]
    assert offsets == [-0.15, 0.0, 0.15]
    assert len(set(offsets)) == 3
