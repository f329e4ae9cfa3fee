"""`overnight run --watch` on a real local Ray cluster: files dropped into the inbox train, in order.

One watching driver serves the module. Its night trains ascii (the tiny corpus) and runic (one fact it
learns exactly, so a job can make it measurably worse); the tests then drop files and judge from the run's
files, as a user would read them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.actors.clusters import stop_cluster
from tests.actors.run_configs import REPO_ROOT, merged, write_run_config
from tests.control.continuous_fixtures import (
    decisions,
    drop,
    drop_raw,
    memo_corpus,
    read_jobs,
    tiny_records,
    unlearning_records,
    wait_for,
    watch_run_data,
    write_jsonl,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PLAN_TIMEOUT_S = 300.0
JOB_TIMEOUT_S = 180.0
RESTART_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Watching:
    """The watching driver of the module and where its run lives."""

    driver: subprocess.Popen[bytes]
    config: Path
    output_dir: Path
    run_dir: Path
    inbox: Path
    log: Path


def overnight(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "overnight.py"), *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def run_state(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run_state.json").read_text(encoding="utf-8"))


def driver_tail(watching: Watching) -> str:
    return watching.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def watching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watching]:
    tmp = tmp_path_factory.mktemp("watch")
    name = f"watch-{os.getpid()}"
    data = merged(
        watch_run_data(tmp / "out", name),
        {
            "specialists": {
                "runic": {
                    "corpus": str(memo_corpus(tmp / "memo")),
                    "phases": [{"name": "main", "epochs": 20, "learning_rate": 1e-2}],
                }
            },
            # Graded at each phase's end only: no LR halving while runic learns its one fact.
            "watchdog": {"every_epochs": 100},
            "supervisor": {"poll_interval_s": 0.2},
        },
    )
    config = write_run_config(tmp, data)
    log = tmp / "driver.log"
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    with log.open("w") as sink:
        driver = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "overnight.py"), "run", "--config", str(config), "--quiet",
             "--address", "local", "--watch"],
            cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    run_dir = tmp / "out" / name
    state = Watching(driver, config, tmp / "out", run_dir, run_dir / "inbox", log)
    try:
        wait_for(
            lambda: (run_dir / "run_state.json").is_file() and run_state(run_dir).get("plan_done_at"),
            "the night's plan",
            PLAN_TIMEOUT_S,
        )
        yield state
    finally:
        driver.send_signal(signal.SIGTERM)  # as Ctrl-C, and it also works when pytest runs in the background
        try:
            driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
        address_file = run_dir / "ray_address"
        if address_file.is_file():
            stop_cluster(address_file.read_text().strip())


def job_of(run_dir: Path, source: str) -> dict[str, Any] | None:
    return next((job for job in read_jobs(run_dir).values() if job["source"] == source), None)


def finished(watching: Watching, source: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = job_of(watching.run_dir, source)
        return job if job and job["state"] in ("completed", "failed", "removed") else None

    try:
        return wait_for(done, f"the job of {source}", JOB_TIMEOUT_S)
    except AssertionError as err:
        raise AssertionError(f"{err}\n--- driver ---\n{driver_tail(watching)}") from None


def queue_lines(run_dir: Path, *job_ids: str) -> list[tuple[str, str]]:
    return [
        (line["action"], line["phase"])
        for line in decisions(run_dir)
        if line["trigger"]["kind"] == "job" and line["phase"] in job_ids
    ]


def promoted(run_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((run_dir / "promoted.json").read_text(encoding="utf-8"))["specialists"][name]


def test_the_night_ends_in_watch_mode_with_runic_learned(watching: Watching) -> None:
    state = run_state(watching.run_dir)
    assert state["status"] == "running" and state["watch"], driver_tail(watching)
    assert {name: spec["state"] for name, spec in state["specialists"].items()} == {
        "foundation": "finished",
        "ascii": "finished",
        "runic": "finished",
    }
    assert promoted(watching.run_dir, "runic")["exact_match"] == 1.0
    assert (watching.run_dir / "report.md").is_file()
    # The driver starts the router for the promoted experts, then says where new data goes.
    wait_for(lambda: "run: watching" in driver_tail(watching), "the driver's watch hint", JOB_TIMEOUT_S)
    assert "router: the named actor 'router' serves" in watching.log.read_text(errors="replace")


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The Prometheus text at `url`, as series name -> [(labels, value)]."""
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    series: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in re.findall(r"^(\w+)\{(.*)\} (\S+)$", body, flags=re.MULTILINE):
        series.setdefault(name, []).append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return series


def test_the_night_is_exported_as_ray_metrics(watching: Watching) -> None:
    driver_log = watching.log.read_text(errors="replace")
    found = re.search(r"metrics for Prometheus .* at (http://\S+/metrics)", driver_log)
    assert found, driver_tail(watching)
    # Ray exports what a process recorded within a few seconds; the grader's spend is read every 10 s.
    series = wait_for(
        lambda: (lambda s: s if "ray_overnight_grader_budget_usd" in s else None)(scrape(found.group(1))),
        "the night's metrics on Ray's export port",
        60.0,
    )

    def values(name: str, **tags: str) -> list[float]:
        return [value for labels, value in series.get(name, []) if tags.items() <= labels.items()]

    for name in ("ascii", "runic", "foundation"):
        (loss,) = values("ray_overnight_train_loss", specialist=name)
        assert 0 < loss < 20, (name, loss)
        (val_loss,) = values("ray_overnight_val_loss", specialist=name)
        assert 0 < val_loss < 20
        for ratio in ("exact_match", "format_validity"):
            (fraction,) = values(f"ray_overnight_val_{ratio}_ratio", specialist=name)
            assert 0 <= fraction <= 1
        (peak,) = values("ray_overnight_peak_lr", specialist=name)
        (current,) = values("ray_overnight_lr", specialist=name)
        assert 0 <= current <= peak
        (micro,) = values("ray_overnight_micro_batch", specialist=name)
        (accum,) = values("ray_overnight_grad_accum", specialist=name)
        assert micro >= 1 and accum >= 1
        assert values("ray_overnight_train_tokens_per_second", specialist=name)[0] > 0
        assert values("ray_overnight_heartbeat_age_seconds", specialist=name)[0] >= 0
        (score,) = values("ray_overnight_grade_score", specialist=name, source="rubric")
        assert 0 <= score <= 100
    # The gauges hold what the events file holds for the last evaluation.
    for name in ("ascii", "runic"):
        events = (watching.run_dir / "events" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        last = [json.loads(line) for line in events if json.loads(line)["type"] == "epoch"][-1]
        assert values("ray_overnight_val_exact_match_ratio", specialist=name) == [last["exact_match"]]
        assert values("ray_overnight_val_loss", specialist=name) == [pytest.approx(last["val_loss"])]
    assert values("ray_overnight_grader_budget_usd") == [1.0]
    assert values("ray_overnight_grader_spend_usd") == [0.0]  # no API key: the rubric graded alone


def test_a_dropped_file_trains_and_is_promoted(watching: Watching) -> None:
    records = [record for record in tiny_records() if record["track"] == "ascii"][:12]
    drop(watching.inbox, "normal", "ascii-new.jsonl", records, specialist="ascii")
    job = finished(watching, "ascii-new.jsonl")
    assert job["state"] == "completed", job
    assert job["result"]["promoted"] is True, job["result"]
    assert promoted(watching.run_dir, "ascii")["checkpoint"] == job["result"]["checkpoint"]
    assert (watching.inbox / "completed" / f"{job['id']}--ascii-new.jsonl").is_file()
    assert queue_lines(watching.run_dir, job["id"]) == [("start_job", job["id"]), ("promote_job", job["id"])]


def test_a_bad_file_is_rejected_with_its_line_numbers(watching: Watching) -> None:
    good = json.dumps({**tiny_records()[0], "specialist": "ascii"})
    drop_raw(watching.inbox, "normal", "bad.jsonl", f'{good}\nnot json\n{{"id": "x"}}\n')
    error_file = watching.inbox / "rejected" / "bad.jsonl.error.txt"
    wait_for(error_file.is_file, "the rejection", JOB_TIMEOUT_S)
    text = error_file.read_text()
    assert "bad.jsonl:2: [invalid_json]" in text and "bad.jsonl:3: [unknown_shape]" in text
    [line] = [line for line in decisions(watching.run_dir) if "bad.jsonl" in line["reason"]]
    assert line["action"] == "reject_file"
    assert job_of(watching.run_dir, "bad.jsonl") is None


def test_a_duplicate_file_is_skipped(watching: Watching) -> None:
    records = [record for record in tiny_records() if record["track"] == "ascii"][:12]
    drop(watching.inbox, "low", "ascii-again.jsonl", records, specialist="ascii")
    wait_for((watching.inbox / "skipped" / "ascii-again.jsonl").is_file, "the skip", JOB_TIMEOUT_S)
    [line] = [line for line in decisions(watching.run_dir) if "ascii-again.jsonl" in line["reason"]]
    assert line["action"] == "skip_duplicate" and "ascii-new.jsonl" in line["reason"]


def test_a_high_file_preempts_a_normal_one_and_both_finish(watching: Watching) -> None:
    run_dir, inbox = watching.run_dir, watching.inbox
    ascii_records = [record for record in tiny_records() if record["track"] == "ascii"]  # 24 of them
    (inbox / "normal" / "slow.jsonl.meta.json").write_text(json.dumps({"epochs": 60}))
    drop(inbox, "normal", "slow.jsonl", ascii_records[12:24], specialist="ascii")
    wait_for(
        lambda: (
            (job_of(run_dir, "slow.jsonl") or {}).get("state") == "running"
            and run_state(run_dir)["specialists"]["ascii"]["step"] >= 3
        ),
        "the normal job to be training",
        JOB_TIMEOUT_S,
    )
    drop(inbox, "high", "urgent.jsonl", ascii_records[:8], specialist="ascii")
    urgent, slow = finished(watching, "urgent.jsonl"), finished(watching, "slow.jsonl")
    assert urgent["state"] == slow["state"] == "completed"
    assert slow["preemptions"] == 1 and urgent["finished_at"] < slow["finished_at"]
    verdict = "promote_job" if urgent["result"]["promoted"] else "keep_unpromoted"
    assert queue_lines(run_dir, urgent["id"], slow["id"])[:5] == [
        ("start_job", slow["id"]),
        ("preempt_job", slow["id"]),
        ("start_job", urgent["id"]),
        (verdict, urgent["id"]),
        ("resume_job", slow["id"]),
    ]
    # Resumed from its own checkpoint, not from scratch: the preemption's stop checkpoint is where it went on.
    starts = [
        event
        for event in map(json.loads, (run_dir / "events" / "ascii.jsonl").read_text().splitlines())
        if event["type"] == "phase" and event["phase"] == slow["id"] and event["status"] == "started"
    ]
    assert len(starts) == 2 and starts[0]["resumed_from"] is None and starts[1]["resumed_from"]


def test_the_queue_survives_a_supervisor_sigkill_and_the_run_goes_on(watching: Watching) -> None:
    run_dir, inbox = watching.run_dir, watching.inbox
    ascii_records = [record for record in tiny_records() if record["track"] == "ascii"]
    (inbox / "low" / "long.jsonl.meta.json").write_text(json.dumps({"epochs": 30}))
    drop(inbox, "low", "long.jsonl", ascii_records[:6], specialist="ascii")
    wait_for(
        lambda: (job_of(run_dir, "long.jsonl") or {}).get("state") == "running", "the job", JOB_TIMEOUT_S
    )
    before = json.loads((run_dir / "queue.json").read_text())
    pid = run_state(run_dir)["supervisor_pid"]
    os.kill(pid, signal.SIGKILL)
    # A file that lands while the supervisor is down is taken in by the restarted one.
    drop(inbox, "normal", "while-down.jsonl", ascii_records[6:12], specialist="ascii")
    wait_for(
        lambda: run_state(run_dir)["supervisor_pid"] != pid,
        "Ray to restart the supervisor",
        RESTART_TIMEOUT_S,
    )
    after = json.loads((run_dir / "queue.json").read_text())
    assert {job["id"]: job["sha256"] for job in before["jobs"]}.items() <= {
        job["id"]: job["sha256"] for job in after["jobs"]
    }.items()
    long_job, down_job = finished(watching, "long.jsonl"), finished(watching, "while-down.jsonl")
    assert long_job["state"] == down_job["state"] == "completed"
    ids = [line["decision_id"] for line in decisions(run_dir)]
    assert len(ids) == len(set(ids)), "a decision was written twice"
    # Starting a job on a retired trainer is no crash: only the supervisor's own death is in the log.
    assert not [line for line in decisions(run_dir) if line["trigger"]["kind"] == "crash"]


def test_a_job_that_makes_the_specialist_worse_is_not_promoted(watching: Watching, tmp_path: Path) -> None:
    run_dir = watching.run_dir
    before = promoted(run_dir, "runic")
    bad = tmp_path / "unlearn.jsonl"
    write_jsonl(bad, unlearning_records())
    result = overnight(
        "submit", str(bad), "--specialist", "runic", "--priority", "high", "--epochs", "10",
        "--run", run_dir.name, "--output-dir", str(watching.output_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "submitted" in result.stdout and "high" in result.stdout
    job = finished(watching, "unlearn.jsonl")
    assert job["state"] == "completed"
    assert job["result"]["promoted"] is False
    assert job["result"]["baseline_exact_match"] == 1.0 and job["result"]["exact_match"] < 1.0
    assert promoted(run_dir, "runic") == before, "the router must keep serving the better checkpoint"
    verdicts = [
        line
        for line in decisions(run_dir)
        if line["phase"] == job["id"] and line["action"] in ("promote_job", "keep_unpromoted")
    ]
    assert [line["action"] for line in verdicts] == ["keep_unpromoted"]
    assert "kept but not promoted" in verdicts[0]["reason"]
    assert Path(job["result"]["checkpoint"]).is_dir(), "the job's checkpoint is kept"


def test_queue_list_and_status_show_the_jobs(watching: Watching) -> None:
    args = ("--run", watching.run_dir.name, "--output-dir", str(watching.output_dir))
    listing = overnight("queue", "list", "--all", "--json", *args)
    assert listing.returncode == 0, listing.stderr
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert {row["source"] for row in rows} >= {
        "ascii-new.jsonl",
        "slow.jsonl",
        "urgent.jsonl",
        "unlearn.jsonl",
    }
    missing = overnight("queue", "set-priority", "job-9999", "high", *args)
    assert missing.returncode == 2 and "no job 'job-9999'" in missing.stderr


def test_a_second_driver_of_the_live_run_is_refused(watching: Watching) -> None:
    again = overnight("run", "--config", str(watching.config), "--address", "local", "--watch", "--quiet")
    assert again.returncode == 2
    address = (watching.run_dir / "ray_address").read_text().strip()
    assert f"is already live on the Ray cluster at {address}" in again.stderr
    assert f"--address {address}" in again.stderr
    assert run_state(watching.run_dir)["status"] == "running", "the live run is untouched"


def test_sigterm_ends_the_driver_through_its_interrupt_path(watching: Watching) -> None:
    """Last in the module: `kill` (or `ray job stop`) is Ctrl-C, even after ray.init set its own handler."""
    watching.driver.send_signal(signal.SIGTERM)
    assert watching.driver.wait(timeout=60) == 130
    tail = driver_tail(watching)
    assert "run: interrupted; the supervisor keeps its state on disk" in tail
    assert "SIGTERM received" not in tail  # Ray's stack printer did not get it
