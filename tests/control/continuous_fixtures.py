"""Seeded inbox files and a watch-mode run config for the continuous-training tests."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.actors.run_configs import FIXTURES_DIR, TINY_CORPUS, merged, tiny_run_data

TINY_TRAIN = FIXTURES_DIR / TINY_CORPUS / "train.jsonl"
# One answer even the tiny test model learns exactly within a few dozen steps: the standing val set of the
# regression-guard tests ("true" in LC-R is "⊤"); a job teaching "⊥" instead makes it worse.
TRUE_RECORD = {
    "id": "memo/0",
    "instruction": "Convert this HLXL value to LC-R: true",
    "response": "⊤",
    "task": "convert",
    "track": "runic",
    "format": "lc-r",
}


def tiny_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TINY_TRAIN.read_text(encoding="utf-8").splitlines() if line.strip()]


def watch_run_data(output_dir: Path, name: str, **changes: Any) -> dict[str, Any]:
    """The tiny two-specialist run, in watch mode's settings: files are taken the moment they land."""
    data = tiny_run_data(output_dir, name)
    return merged(data, {"inbox": {"settle_s": 0.0, "epochs": 1}, **changes})


def memo_corpus(directory: Path, copies: int = 8) -> Path:
    """A corpus of one fact, repeated: the specialist learns it exactly (val holds it once)."""
    directory.mkdir(parents=True, exist_ok=True)
    train = [{**TRUE_RECORD, "id": f"memo/{index}"} for index in range(copies)]
    write_jsonl(directory / "train.jsonl", train)
    write_jsonl(directory / "val.jsonl", [TRUE_RECORD])
    return directory


def unlearning_records(copies: int = 8) -> list[dict[str, Any]]:
    """The same prompt answered "⊥" (false): training on it makes the memo specialist worse."""
    return [{**TRUE_RECORD, "id": f"unlearn/{index}", "response": "⊥"} for index in range(copies)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), "utf-8")


def drop(inbox: Path, priority: str, name: str, records: list[dict[str, Any]], **fields: Any) -> Path:
    """Write a JSONL file into inbox/<priority>/ the way a careful user would: a hidden temp, then rename."""
    folder = inbox / priority
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({**record, **fields}, ensure_ascii=False) + "\n" for record in records)
    temp = folder / f".{name}.part"
    temp.write_text(text, encoding="utf-8")
    target = folder / name
    os.replace(temp, target)
    return target


def drop_raw(inbox: Path, priority: str, name: str, text: str) -> Path:
    folder = inbox / priority
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_text(text, encoding="utf-8")
    return target


def wait_for(condition: Any, what: str, timeout_s: float) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.2)


def read_jobs(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / "queue.json"
    if not path.is_file():
        return {}
    return {job["id"]: job for job in json.loads(path.read_text(encoding="utf-8"))["jobs"]}


def decisions(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "decisions.jsonl"
    if not path.is_file():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [line for line in lines if line["kind"] == "decision"]


def actions(run_dir: Path) -> list[str]:
    return [line["action"] for line in decisions(run_dir)]
