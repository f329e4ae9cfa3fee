"""Recovery benchmark: for each injected fault, detection latency (steps, seconds) and work lost (steps).

Runs a tiny two-specialist night on a private local Ray cluster with a NaN and an OOM injected into one
specialist and a hang and a hard crash into the other, then measures everything from the run's own files
(events/<name>.jsonl and decisions.jsonl). Targets: a NaN is handled within one step, and no fault loses
more work than one checkpoint interval (the baseline, measured in steps in the same run).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    # `python bench/recovery.py` puts bench/ on the path, not the repository.
    sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "training" / "fixtures"
CHECKPOINT_STEP = re.compile(r"-s(\d+)$")
# Far above the seconds Ray takes to restart a crashed trainer, so a crash is seen as one, not as a stall;
# the hang's detection latency is this by construction.
STALL_SECONDS = 30


def bench_config(output_dir: Path, epochs: int) -> dict[str, Any]:
    """The chaos faults on the tiny fixture model; grading only at phase ends so grades steer nothing."""
    tiny = {
        "vocab_size": 320,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_layers": 2,
        "num_heads": 2,
        "num_kv_heads": 1,
        "head_dim": 16,
        "max_position_embeddings": 256,
        "tokenizer_corpora": ["tiny_corpus"],
    }
    faults = {
        "ascii": {"nan_at_step": 8, "oom_at_step": 20},
        "runic": {"hang_at_step": 8, "crash_at_step": 20, "crash_mode": "exit"},
    }
    return {
        "run": {"name": "recovery", "output_dir": str(output_dir), "corpora_dir": str(FIXTURES)},
        "model": {"method": "lora", "lora": {"rank": 4, "alpha": 8}, "tiny": tiny},
        "training": {
            "learning_rate": 0.003,
            "micro_batch_size": 8,
            "max_length": 128,
            "eval_subset": 4,
            "eval_batch_size": 4,
            "max_new_tokens": 12,
            "heartbeat_interval_s": 0.2,
            "checkpoint_every_epochs": 1,
        },
        "foundation": {"corpus": "tiny_corpus", "epochs": 1},
        "specialists": {
            name: {
                "corpus": "tiny_corpus",
                "track": name,
                "faults": {"main": faults[name]},
                "phases": [{"name": "main", "epochs": epochs}],
            }
            for name in faults
        },
        "watchdog": {"every_epochs": 1000},
        "policies": {"stall_seconds": STALL_SECONDS},
        "supervisor": {"startup_grace_s": 90},
        "resources": {"trainer_num_cpus": 0.5},
    }


def _events(run_dir: Path, name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (run_dir / "events" / f"{name}.jsonl").read_text().splitlines() if line
    ]


def _checkpoint_step(path: str | None) -> int:
    match = CHECKPOINT_STEP.search(path or "")
    return int(match.group(1)) if match else 0


def step_fault_figures(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """A fault the trainer reported at a step (non_finite, oom): latency from the fault event to the decision,
    work lost back to the checkpoint it rolled back to."""
    fault = next(e for e in events if e["type"] == "fault" and e["fault"] == kind)
    rollback = next(e for e in events if e["type"] == "rollback" and e["time"] >= fault["time"])
    restored = _checkpoint_step(rollback["checkpoint"])
    return {
        "fault_step": fault["step"],
        "detected_at_step": fault["step"],
        "detection_latency_steps": 0,
        "detection_latency_s": round(fault["decided_at"] - fault["time"], 4),
        "action": fault["action"],
        "restored_checkpoint_step": restored,
        "work_lost_steps": fault["step"] - 1 - restored,
    }


def restart_figures(events: list[dict[str, Any]], decision: dict[str, Any]) -> dict[str, Any]:
    """A hang or crash: the trainer went silent; latency from its last step to the decision, work lost back to
    the checkpoint the restarted trainer resumed from."""
    decided = datetime.fromisoformat(decision["time"].replace("Z", "+00:00")).timestamp()
    before = [e for e in events if e["type"] == "step" and e["time"] <= decided]
    last_step = before[-1] if before else {"step": 0, "time": decided}
    resumed = next(
        (
            e
            for e in events
            if e["type"] == "phase"
            and e["status"] == "started"
            and e["time"] > decided
            and e.get("resumed_from")
        ),
        None,
    )
    restored = _checkpoint_step(resumed["resumed_from"]) if resumed else 0
    return {
        "last_step_before": last_step["step"],
        "detection_latency_s": round(decided - last_step["time"], 2),
        "detection_latency_steps": decision["step"] - last_step["step"],
        "action": decision["action"],
        "restored_checkpoint_step": restored,
        "work_lost_steps": last_step["step"] - restored,
    }


def measure(epochs: int) -> dict[str, Any]:
    from policies.decision_log import read_log

    with tempfile.TemporaryDirectory(prefix="overnight-recovery-") as tmp:
        output = Path(tmp)
        config_path = output / "recovery.yaml"
        config_path.write_text(yaml.safe_dump(bench_config(output, epochs)))
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "overnight.py", "--config", str(config_path), "--quiet", "--address", "local"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(
                f"the recovery run failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
            )
        run_dir = output / "recovery"
        ascii_events, runic_events = _events(run_dir, "ascii"), _events(run_dir, "runic")
        log = [r.model_dump(mode="json") for r in read_log(run_dir / "decisions.jsonl")]
        steps_per_epoch = max(e["step"] for e in ascii_events if e["type"] == "epoch") // epochs
        stall = next(r for r in log if r["specialist"] == "runic" and r["trigger"]["kind"] == "stall")
        crash = next(r for r in log if r["specialist"] == "runic" and r["trigger"]["kind"] == "crash")
        state = json.loads((run_dir / "run_state.json").read_text())
    faults = {
        "nan": step_fault_figures(ascii_events, "non_finite"),
        "oom": step_fault_figures(ascii_events, "oom"),
        "hang": restart_figures(runic_events, stall),
        "crash": restart_figures(runic_events, crash),
    }
    interval = steps_per_epoch  # checkpoint_every_epochs: 1
    return {
        "benchmark": "recovery",
        "run_wall_s": round(wall, 1),
        "final_states": {name: spec["state"] for name, spec in state["specialists"].items()},
        "checkpoint_interval_steps": interval,
        "stall_seconds": STALL_SECONDS,
        "faults": faults,
        "targets": {
            "nan_within_one_step": faults["nan"]["detection_latency_steps"] <= 1,
            "work_lost_within_checkpoint_interval": all(
                f["work_lost_steps"] <= interval for f in faults.values()
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs per specialist (default: %(default)s)")
    parser.add_argument(
        "--out", default="bench/results/recovery.json", help="output JSON (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    result = measure(args.epochs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
