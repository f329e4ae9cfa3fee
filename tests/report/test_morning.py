"""Tests for the morning report: every file written, numbers matching the fixture, partial runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from control.run_files import RunFileError
from report.morning import ReportPaths, write_report
from tests.actors.fixtures_run import FakeRun, write_fake_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeRun, ReportPaths]:
    fake = write_fake_run(tmp_path_factory.mktemp("runs"))
    return fake, write_report(fake.run_dir)


def _strict_json(path: Path) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _assert_png(path: Path, min_bytes: int) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"


def test_report_writes_every_file(reported: tuple[FakeRun, ReportPaths]) -> None:
    fake, paths = reported
    assert paths.report_md == fake.run_dir / "report.md"
    assert paths.summary_json == fake.run_dir / "summary.json"
    assert paths.grades_png == fake.run_dir / "grades.png"
    assert paths.loss_pngs == {name: fake.run_dir / f"loss_{name}.png" for name in fake.specialists}
    for png in [paths.grades_png, *paths.loss_pngs.values()]:
        # A figure with curves, markers and labels is tens of kilobytes; an empty canvas is a few.
        _assert_png(png, min_bytes=30_000)
    assert not [path.name for path in fake.run_dir.iterdir() if path.name.endswith(".tmp")]


def test_summary_matches_the_fixture(reported: tuple[FakeRun, ReportPaths]) -> None:
    fake, paths = reported
    summary = _strict_json(paths.summary_json)
    assert summary["run"] == fake.run
    assert summary["status"] == "finished"
    assert summary["wall_time_s"] == pytest.approx(summary["finished_at"] - summary["started_at"])
    for name in fake.specialists:
        item = summary["specialists"][name]
        assert item["interventions"]["by_action"] == fake.interventions[name]
        assert item["interventions"]["total"] == sum(fake.interventions[name].values())
        assert item["best_exact_match"]["exact_match"] == fake.best_exact_match[name]
        assert item["final_metrics"]["exact_match"] == fake.final_exact_match[name]
        assert item["final_metrics"]["phase"] == "phase2_specialist"
        assert item["step_events"] == fake.step_events[name]
        assert [(g["score"], g["letter"], g["source"]) for g in item["grades"]] == [
            (g["score"], g["letter"], g["source"]) for g in fake.grades[name]
        ]
        assert item["adapter"]["path"] == str(fake.run_dir / name / "phase2_specialist" / "best")
        assert item["wall_time_s"] > 0
        assert item["decisions"] == sum(1 for d in fake.decisions if d["specialist"] == name)
    assert summary["specialists"]["ascii"]["non_finite_losses"] == 1
    totals = summary["totals"]
    assert totals["interventions_by_action"] == {"flag_for_review": 2, "halve_lr": 1, "rollback": 1,
                                                 "shrink_batch": 1}
    assert (totals["interventions"], totals["decisions"], totals["grades"]) == (5, 10, 8)
    assert totals["grades_by_source"] == {"llm": 5, "rubric": 3}
    assert totals["llm_fallbacks"] == 2
    assert summary["coordinator"] == {"path": "builtin:tiny", "kind": "base"}
    assert summary["files"]["loss_png"] == {name: f"loss_{name}.png" for name in fake.specialists}


def test_report_md_names_every_specialist_intervention_and_figure(
    reported: tuple[FakeRun, ReportPaths],
) -> None:
    fake, paths = reported
    text = paths.report_md.read_text(encoding="utf-8")
    assert text.startswith(f"# Overnight report: run `{fake.run}`")
    headings = ("Grades", "Final metrics", "Interventions", "Loss curves", "Grade timeline", "Adapters")
    for heading in headings:
        assert f"\n## {heading}\n" in text
    for name in fake.specialists:
        assert f"| {name} |" in text
        assert f"![loss curve of {name}](loss_{name}.png)" in text
    assert "![grade timeline](grades.png)" in text
    interventions = text.split("## Interventions", 1)[1].split("## Loss curves", 1)[0]
    for decision in fake.decisions:
        if decision["action"] == "continue":
            assert decision["reason"] not in interventions
            continue
        row = next(line for line in interventions.splitlines() if decision["reason"] in line)
        assert f"| {decision['specialist']} |" in row
        assert f"| {decision['trigger']['kind']}" in row
        assert f"| {decision['action']}" in row
        assert "| ok: " in row
    assert "| halve_lr | peak_lr 2.0e-04 → 1.0e-04 |" in interventions
    shrink = "| oom: CUDA out of memory | shrink_batch (from last_good) | grad_accum 4 → 8, micro_batch 4 → 2"
    assert shrink in interventions
    # Epochs count from 1 here too: the event's epoch 4 is the fifth.
    assert "| phase2_specialist/5, step 150 | non_finite: loss is nan | rollback (from last_good) |" in (
        interventions
    )
    # Each fallback reason is said once, under the grade table, not on every row.
    assert "The LLM grader fell back to the rubric 2×: LLM timed out after 20 s (1×); no ANTHROPIC_API_KEY " \
        "set (1×)." in text
    assert "| rubric (LLM fell back) |" in text and text.count("no ANTHROPIC_API_KEY set") == 1
    assert f'overnight ask --run {fake.run} "' in text
    assert str(fake.run_dir / "ascii" / "phase2_specialist" / "best") in text


def test_a_pending_specialist_says_no_data(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path, pending=("late",))
    paths = write_report(fake.run_dir)
    text = paths.report_md.read_text(encoding="utf-8")
    assert "No data: no grades yet for late." in text
    assert "No data: late has logged no training steps." in text
    assert "| late | pending | no data |" in text
    late = _strict_json(paths.summary_json)["specialists"]["late"]
    assert (late["final_metrics"], late["best_exact_match"], late["adapter"]) == (None, None, None)
    assert late["interventions"] == {"total": 0, "by_action": {}}
    _assert_png(paths.loss_pngs["late"], min_bytes=5_000)


def test_a_run_with_only_its_state_still_gets_a_report(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path, torn_tail=False)
    shutil.rmtree(fake.run_dir / "events")
    for name in ("decisions.jsonl", "promoted.json"):
        (fake.run_dir / name).unlink()
    state = json.loads((fake.run_dir / "run_state.json").read_text(encoding="utf-8"))
    state.update(status="running", finished_at=None)
    (fake.run_dir / "run_state.json").write_text(json.dumps(state), encoding="utf-8")
    paths = write_report(fake.run_dir)
    text = paths.report_md.read_text(encoding="utf-8")
    assert "- **finished**: not yet" in text
    assert "so far" in text
    assert "None: no decisions were logged." in text
    assert "No data: nothing promoted yet" in text
    assert "No data: no grades yet for ascii, runic." in text
    summary = _strict_json(paths.summary_json)
    assert summary["wall_time_s"] == pytest.approx(state["updated_at"] - state["started_at"])
    assert summary["totals"]["step_events"] == 0
    _assert_png(paths.grades_png, min_bytes=5_000)


def test_a_run_without_run_state_is_reported_from_its_events(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    (fake.run_dir / "run_state.json").unlink()
    paths = write_report(fake.run_dir)
    summary = _strict_json(paths.summary_json)
    assert list(summary["specialists"]) == ["ascii", "runic"]
    assert summary["status"] == "unknown"
    assert summary["wall_time_s"] > 0
    assert "- **config**: —" in paths.report_md.read_text(encoding="utf-8")


def test_an_empty_run_directory_gets_an_empty_report(tmp_path: Path) -> None:
    paths = write_report(tmp_path)
    text = paths.report_md.read_text(encoding="utf-8")
    assert "No data: no specialists yet." in text
    assert paths.loss_pngs == {}
    _assert_png(paths.grades_png, min_bytes=5_000)


def test_damaged_event_lines_are_reported(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path, torn_tail=False)
    events = fake.run_dir / "events" / "runic.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = '{"type": "st{"type": "step"}\n'
    events.write_text("".join(lines), encoding="utf-8")
    paths = write_report(fake.run_dir)
    text = paths.report_md.read_text(encoding="utf-8")
    assert "`events/runic.jsonl` lines 5 were not JSON objects and were skipped." in text
    assert _strict_json(paths.summary_json)["specialists"]["runic"]["malformed_event_lines"] == [5]


def test_free_text_cannot_break_the_markdown_tables(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    decisions = fake.run_dir / "decisions.jsonl"
    records = [json.loads(line) for line in decisions.read_text(encoding="utf-8").splitlines()]
    records[0]["reason"] = "loss | exploded\nat step 80"
    decisions.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    text = write_report(fake.run_dir).report_md.read_text(encoding="utf-8")
    assert "loss \\| exploded at step 80" in text


def test_a_damaged_decision_log_is_named_and_the_rest_still_reported(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    log = fake.run_dir / "decisions.jsonl"
    damaged_line = len(log.read_text(encoding="utf-8").splitlines()) + 1
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "mystery"}\n')
    paths = write_report(fake.run_dir)
    text = paths.report_md.read_text(encoding="utf-8")
    assert "Unknown: the decision log could not be read: " in text
    assert f"decisions.jsonl:{damaged_line}: 'kind' is 'mystery'" in text
    assert "- **interventions**: unknown (the decision log is unreadable)" in text
    summary = _strict_json(paths.summary_json)
    assert summary["decision_log_error"].startswith(str(fake.run_dir / "decisions.jsonl"))
    best = summary["specialists"]["ascii"]["best_exact_match"]
    assert best["exact_match"] == fake.best_exact_match["ascii"]


def test_a_missing_run_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="absent: no such run directory"):
        write_report(tmp_path / "absent")


def _evaluation_line(time: float, epoch: int, exact: float, start: bool = False) -> dict[str, Any]:
    line = {"type": "epoch", "time": time, "phase": "main", "epoch": epoch, "step": 10 * (epoch + 1),
            "val_loss": 1.5, "exact_match": exact, "format_validity": 1.0, "n_graded": 32}
    return {**line, "step": 0, "start": True} if start else line


def test_the_start_evaluation_is_the_start_in_the_final_metrics_not_an_epoch(tmp_path: Path) -> None:
    run_dir = tmp_path / "night"
    (run_dir / "events").mkdir(parents=True)
    trajectories = {
        # Training made it worse: the best exact match is the start's, the last evaluation epoch 2's.
        "worse": [_evaluation_line(1.0, 0, 0.50, start=True), _evaluation_line(2.0, 0, 0.25),
                  _evaluation_line(3.0, 1, 0.30)],
        # Stopped before its first epoch ended: the start is the only evaluation.
        "early": [_evaluation_line(1.0, 0, 0.10, start=True)],
    }
    for name, lines in trajectories.items():
        text = "".join(json.dumps(line) + "\n" for line in lines)
        (run_dir / "events" / f"{name}.jsonl").write_text(text, encoding="utf-8")
    paths = write_report(run_dir)
    report = paths.report_md.read_text(encoding="utf-8")
    assert "| worse | no data | main/2 | 1.5 | 0.3 | 1 | 0.5 (main/start) |" in report
    assert "| early | no data | main/start | 1.5 | 0.1 | 1 | 0.1 (main/start) |" in report
    assert "| worse | main | 2 epoch(s) evaluated |" in report
    assert "| early | main | 0 epoch(s) evaluated |" in report
    summary = _strict_json(paths.summary_json)["specialists"]
    assert (summary["worse"]["best_exact_match"]["start"], summary["worse"]["final_metrics"]["start"]) == (
        True, False)
