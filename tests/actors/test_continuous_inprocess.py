"""Watch mode in-process (no Ray): real trainers in threads take inbox files through the queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actors.supervisor import Supervisor
from policies.decision_log import read_log
from tests.actors.inprocess import ThreadWorkers, build, fast
from tests.actors.run_configs import merged
from tests.control.continuous_fixtures import (
    actions,
    decisions,
    drop,
    drop_raw,
    read_jobs,
    tiny_records,
    wait_for,
    watch_run_data,
)

JOB_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def watching(
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """A tiny night (foundation, ascii, runic) in watch mode, its plan done, its inbox empty."""
    output_dir = tmp_path_factory.mktemp("continuous")
    # Graded at a phase's end only: a job's plateau would otherwise stop it early, before a test preempts it.
    data = merged(fast(watch_run_data(output_dir, "watch")), {"watchdog": {"every_epochs": 1000}})
    supervisor, workers, config = build(data)
    supervisor.start(watch=True)
    wait_for(lambda: supervisor.state.plan_done_at, "the night's plan", JOB_TIMEOUT_S)
    yield supervisor, workers, config, config.inbox.root(config.run_dir())
    supervisor.shutdown()
    workers.join(timeout_s=30)


def queue_decisions(run_dir: Path) -> list[dict[str, Any]]:
    """The queue's own decisions (the policies' grades and faults during a job are left out)."""
    return [line for line in decisions(run_dir) if line["trigger"]["kind"] in ("inbox", "job")]


def job_by_source(run_dir: Path, source: str) -> dict[str, Any] | None:
    return next((job for job in read_jobs(run_dir).values() if job["source"] == source), None)


def finished_job(run_dir: Path, source: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = job_by_source(run_dir, source)
        return job if job and job["state"] in ("completed", "failed") else None

    return wait_for(done, f"the job of {source} to finish", JOB_TIMEOUT_S)


def test_the_plan_finishes_into_watch_mode(watching: Any) -> None:
    supervisor, _, config, inbox = watching
    state = supervisor.status()
    assert state["status"] == "running" and state["watch"] is True
    assert {name: spec["state"] for name, spec in state["specialists"].items()} == {
        "foundation": "finished",
        "ascii": "finished",
        "runic": "finished",
    }
    assert (config.run_dir() / "report.md").is_file()
    assert all((inbox / folder).is_dir() for folder in ("high", "normal", "low", "rejected", "completed"))


def test_a_dropped_file_trains_and_is_promoted(watching: Any) -> None:
    supervisor, _, config, inbox = watching
    run_dir = config.run_dir()
    records = [record for record in tiny_records() if record["track"] == "ascii"][:12]
    drop(inbox, "normal", "ascii-more.jsonl", records, specialist="ascii")
    job = finished_job(run_dir, "ascii-more.jsonl")
    assert job["state"] == "completed", job
    assert "carved out as val" in job["val_note"]
    result = job["result"]
    assert result["promoted"] is True, result
    assert result["baseline_exact_match"] is not None and result["exact_match"] is not None
    promoted = json.loads((run_dir / "promoted.json").read_text())["specialists"]["ascii"]
    assert promoted["checkpoint"] == result["checkpoint"]
    assert Path(result["checkpoint"]).is_relative_to(run_dir / "ascii" / job["id"])
    assert (inbox / "completed" / f"{job['id']}--ascii-more.jsonl").is_file()
    mine = [line for line in queue_decisions(run_dir) if line["phase"] == job["id"]]
    assert [line["action"] for line in mine] == ["queue_job", "start_job", "promote_job"]
    assert "not worse, promoted" in mine[-1]["reason"]
    assert supervisor.status()["specialists"]["ascii"]["state"] == "finished"


def test_a_bad_file_is_rejected_with_its_line_numbers(watching: Any) -> None:
    _, _, config, inbox = watching
    good = json.dumps({**tiny_records()[0], "specialist": "ascii"})
    drop_raw(inbox, "low", "broken.jsonl", f'{good}\n{{"id": oops\n{{"id": "x"}}\n')
    error = wait_for(
        lambda: (
            (inbox / "rejected" / "broken.jsonl.error.txt").is_file()
            and (inbox / "rejected" / "broken.jsonl.error.txt").read_text()
        ),
        "the rejection",
        JOB_TIMEOUT_S,
    )
    assert "broken.jsonl:2: [invalid_json]" in error
    assert "broken.jsonl:3: [unknown_shape]" in error
    assert (inbox / "rejected" / "broken.jsonl").is_file()
    [line] = [line for line in decisions(config.run_dir()) if "broken.jsonl" in line["reason"]]
    assert line["action"] == "reject_file" and "2 problem(s)" in line["reason"]
    assert job_by_source(config.run_dir(), "broken.jsonl") is None


def test_a_file_naming_no_specialist_is_rejected_with_that_reason(watching: Any) -> None:
    _, _, _, inbox = watching
    drop(inbox, "normal", "anonymous.jsonl", tiny_records()[:3])
    error_file = inbox / "rejected" / "anonymous.jsonl.error.txt"
    wait_for(error_file.is_file, "the rejection", JOB_TIMEOUT_S)
    assert "names no specialist" in error_file.read_text()
    assert "--specialist NAME" in error_file.read_text()


def test_a_duplicate_file_is_skipped(watching: Any) -> None:
    _, _, config, inbox = watching
    records = [record for record in tiny_records() if record["track"] == "ascii"][:12]
    finished_job(config.run_dir(), "ascii-more.jsonl")
    drop(inbox, "high", "same-again.jsonl", records, specialist="ascii")
    wait_for((inbox / "skipped" / "same-again.jsonl").is_file, "the skip", JOB_TIMEOUT_S)
    [line] = [line for line in decisions(config.run_dir()) if "same-again.jsonl" in line["reason"]]
    assert line["action"] == "skip_duplicate"
    assert "same content" in line["reason"] and "ascii-more.jsonl" in line["reason"]
    assert job_by_source(config.run_dir(), "same-again.jsonl") is None


def test_the_same_file_under_the_same_name_again_leaves_its_own_skip_decision(watching: Any) -> None:
    # Issue 12 §5: the second drop's decision key used to equal the first drop's queue_job key, so the log
    # kept no trace of the skip.
    _, _, config, inbox = watching
    records = [record for record in tiny_records() if record["track"] == "ascii"][:12]
    finished_job(config.run_dir(), "ascii-more.jsonl")
    drop(inbox, "normal", "ascii-more.jsonl", records, specialist="ascii")
    wait_for((inbox / "skipped" / "ascii-more.jsonl").is_file, "the skip", JOB_TIMEOUT_S)
    mine = [line for line in decisions(config.run_dir()) if line["reason"].startswith("ascii-more.jsonl: ")]
    assert [line["action"] for line in mine] == ["queue_job", "skip_duplicate"]
    assert "same content" in mine[1]["reason"] and "as job-" in mine[1]["reason"]


def test_a_high_file_preempts_a_normal_one_and_both_finish(watching: Any) -> None:
    supervisor, _, config, inbox = watching
    run_dir = config.run_dir()
    records = tiny_records()
    runic = [record for record in records if record["track"] == "runic"]
    # The sidecar lands first: it gives the normal job enough epochs to still be training when preempted.
    (inbox / "normal").mkdir(parents=True, exist_ok=True)
    (inbox / "normal" / "long.jsonl.meta.json").write_text(json.dumps({"epochs": 60}))
    drop(inbox, "normal", "long.jsonl", runic[:16], specialist="runic")
    wait_for(
        lambda: (
            supervisor.status()["specialists"]["runic"]["step"] >= 3
            and (job_by_source(run_dir, "long.jsonl") or {}).get("state") == "running"
        ),
        "the normal job to be training",
        JOB_TIMEOUT_S,
    )
    drop(inbox, "high", "urgent.jsonl", runic[16:24], specialist="runic")
    urgent = finished_job(run_dir, "urgent.jsonl")
    long_job = finished_job(run_dir, "long.jsonl")
    assert urgent["state"] == long_job["state"] == "completed"
    assert long_job["preemptions"] == 1
    assert urgent["finished_at"] < long_job["finished_at"]
    order = [
        (line["action"], line["phase"])
        for line in queue_decisions(run_dir)
        if line["phase"] in (urgent["id"], long_job["id"]) and line["action"] != "queue_job"
    ]
    verdict = ("promote_job" if urgent["result"]["promoted"] else "keep_unpromoted", urgent["id"])
    assert order[:5] == [
        ("start_job", long_job["id"]),
        ("preempt_job", long_job["id"]),
        ("start_job", urgent["id"]),
        verdict,
        ("resume_job", long_job["id"]),
    ], order
    phases = [
        json.loads(line)
        for line in (run_dir / "events" / "runic.jsonl").read_text().splitlines()
        if json.loads(line)["type"] == "phase" and json.loads(line)["phase"] == long_job["id"]
    ]
    [preempt] = [r for r in read_log(run_dir / "decisions.jsonl") if r.action.value == "preempt_job"]
    assert preempt.outcome is not None and "back at the front of normal" in preempt.outcome.detail
    resumed = [event for event in phases if event["status"] == "started" and event["resumed_from"]]
    assert resumed, "the preempted job did not resume from its checkpoint"


def test_queue_survives_in_a_new_supervisor(watching: Any) -> None:
    """A supervisor built on the same run directory (as after a restart) sees the same queue."""
    supervisor, _, config, _ = watching
    again = Supervisor(config, str(config.run_dir()), "in-process", ThreadWorkers(config))
    assert again.state.watch is True and again.state.plan_done_at is not None
    assert again.status()["queue"] == supervisor.status()["queue"]
    assert actions(config.run_dir()).count("queue_job") >= 3
