"""`overnight submit` and `overnight queue` on a run directory, as a user types them (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from control.inbox import IntakeRules, arrivals, assess, carry_out, make_inbox
from control.job_queue import locked_queue, read_queue
from control.run_state import RunState, save_run_state
from overnight import main
from tests.actors.run_configs import tiny_run_data, write_run_config
from tests.control.continuous_fixtures import tiny_records, write_jsonl

RUN = "night"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory as `overnight run` leaves it: its config copy and its run state."""
    directory = tmp_path / "out" / RUN
    directory.mkdir(parents=True)
    write_run_config(directory, tiny_run_data(tmp_path / "out", RUN), filename="config.yaml")
    save_run_state(directory, RunState(run=RUN, config_path="config.yaml", watch=True))
    return directory


def cli(run_dir: Path, *args: str) -> list[str]:
    return [*args, "--run", RUN, "--output-dir", str(run_dir.parent)]


def good_file(tmp_path: Path, name: str = "new.jsonl", count: int = 6) -> Path:
    path = tmp_path / name
    write_jsonl(path, tiny_records()[:count])
    return path


def take_in_all(run_dir: Path) -> None:
    """What the watching supervisor does at its next tick (without training)."""
    inbox = run_dir / "inbox"
    rules = IntakeRules(specialists=("ascii", "runic"), epochs=2, val_fraction=0.2)
    with locked_queue(run_dir) as queue:
        for arrival in arrivals(inbox, settle_s=0.0):
            carry_out(assess(arrival, run_dir, queue, rules), inbox, queue)


def test_submit_drops_the_file_with_its_sidecar(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    source = good_file(tmp_path)
    code = main(
        cli(run_dir, "submit", str(source), "--specialist", "runic", "--priority", "high", "--epochs", "3")
    )
    assert code == 0
    dropped = run_dir / "inbox" / "high" / "new.jsonl"
    assert dropped.read_bytes() == source.read_bytes()
    assert json.loads((dropped.parent / "new.jsonl.meta.json").read_text()) == {
        "specialist": "runic",
        "epochs": 3,
    }
    out = capsys.readouterr().out
    assert "submitted" in out and "takes it in within seconds" in out
    assert source.is_file(), "the user's own file is left where it was"


def test_submit_to_a_run_that_is_not_watching_says_how_to_train_it(
    run_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    # A damaged run state is read through the run files' reader: the hint, not a traceback after the drop.
    (run_dir / "run_state.json").write_text('{"watch": ', encoding="utf-8")
    assert main(cli(run_dir, "submit", str(good_file(tmp_path)), "--specialist", "ascii")) == 0
    out = capsys.readouterr().out
    assert f"run {RUN} is not watching its inbox: `overnight run --watch --run-name {RUN}`" in out
    assert (run_dir / "inbox" / "normal" / "new.jsonl").is_file()


def test_submit_twice_keeps_both_files(run_dir: Path, tmp_path: Path) -> None:
    source = good_file(tmp_path)
    for _ in range(2):
        assert main(cli(run_dir, "submit", str(source), "--specialist", "ascii")) == 0
    assert sorted(p.name for p in (run_dir / "inbox" / "normal").iterdir()) == [
        "new-1.jsonl", "new-1.jsonl.meta.json", "new.jsonl", "new.jsonl.meta.json",
    ]  # fmt: skip


def test_submit_warns_when_a_job_already_holds_the_content(
    run_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    source = good_file(tmp_path)
    assert main(cli(run_dir, "submit", str(source), "--specialist", "ascii")) == 0
    assert capsys.readouterr().err == ""
    take_in_all(run_dir)  # job-0001 now holds it
    assert main(cli(run_dir, "submit", str(source), "--specialist", "ascii")) == 0
    captured = capsys.readouterr()
    digest = read_queue(run_dir).get("job-0001").sha256
    assert captured.err == (
        f"warning: {source} has the same content (sha256 {digest[:12]}) as job-0001 from new.jsonl (queued); "
        "the inbox will skip it (a skip_duplicate decision in the log). To train it again, `overnight queue "
        "remove job-0001` first, or change the data.\n"
    )
    assert "submitted" in captured.out and (run_dir / "inbox" / "normal" / "new.jsonl").is_file()
    take_in_all(run_dir)
    assert (run_dir / "inbox" / "skipped" / "new.jsonl").is_file()
    # A removed job's content may be trained again: no warning then.
    assert main(cli(run_dir, "queue", "remove", "job-0001")) == 0
    capsys.readouterr()
    assert main(cli(run_dir, "submit", str(source), "--specialist", "ascii")) == 0
    assert capsys.readouterr().err == ""


def test_submit_refuses_a_bad_file_and_copies_nothing(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(tiny_records()[0]) + "\n{oops\n")
    assert main(cli(run_dir, "submit", str(bad), "--specialist", "ascii")) == 2
    err = capsys.readouterr().err
    assert "nothing was submitted" in err and "bad.jsonl:2" in err and "invalid_json" in err
    assert not (run_dir / "inbox").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--specialist", "klingon"), "no specialist 'klingon' in run night; known: ascii, runic"),
        (("--specialist", "ascii", "--epochs", "0"), "--epochs must be at least 1, got 0"),
    ],
)
def test_submit_names_what_is_wrong(
    run_dir: Path, tmp_path: Path, capsys: Any, args: tuple[str, ...], message: str
) -> None:
    assert main(cli(run_dir, "submit", str(good_file(tmp_path)), *args)) == 2
    assert message in capsys.readouterr().err


def test_submit_of_a_missing_file(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    assert main(cli(run_dir, "submit", str(tmp_path / "nope.jsonl"), "--specialist", "ascii")) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err


def test_submit_says_when_the_run_is_not_watching(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    save_run_state(run_dir, RunState(run=RUN, config_path="config.yaml", status="finished"))
    assert main(cli(run_dir, "submit", str(good_file(tmp_path)), "--specialist", "ascii")) == 0
    assert f"overnight run --watch --run-name {RUN}" in capsys.readouterr().out


def test_queue_list_set_priority_and_remove(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    main(cli(run_dir, "submit", str(good_file(tmp_path, "a.jsonl", 6)), "--specialist", "ascii"))
    main(cli(run_dir, "submit", str(good_file(tmp_path, "b.jsonl", 8)), "--specialist", "runic"))
    take_in_all(run_dir)
    capsys.readouterr()
    assert main(cli(run_dir, "queue", "list", "--json")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(row["id"], row["source"], row["priority"]) for row in rows] == [
        ("job-0001", "a.jsonl", "normal"),
        ("job-0002", "b.jsonl", "normal"),
    ]
    assert main(cli(run_dir, "queue", "set-priority", "job-0002", "high")) == 0
    assert [job.id for job in read_queue(run_dir).active()] == ["job-0002", "job-0001"]
    assert main(cli(run_dir, "queue", "remove", "job-0001")) == 0
    assert "job-0001 removed" in capsys.readouterr().out
    assert [job.id for job in read_queue(run_dir).active()] == ["job-0002"]
    failed = run_dir / "inbox" / "failed" / "job-0001--a.jsonl"
    assert (
        failed.is_file() and "removed by the user" in failed.with_name(failed.name + ".error.txt").read_text()
    )
    assert main(cli(run_dir, "queue", "remove", "job-0001")) == 2
    assert "job-0001 is already removed" in capsys.readouterr().err


def test_queue_commands_name_an_unknown_job(run_dir: Path, capsys: Any) -> None:
    make_inbox(run_dir / "inbox")
    assert main(cli(run_dir, "queue", "set-priority", "job-0042", "low")) == 2
    assert "no job 'job-0042' in the queue" in capsys.readouterr().err
    assert main(cli(run_dir, "queue", "list")) == 0
    assert "no waiting or running jobs in run night" in capsys.readouterr().out
