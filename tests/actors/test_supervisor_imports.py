"""The supervisor promotes without the training stack: the coordinator is the base the checkpoint records it
was trained on, so its process never imports the recipe (torch, transformers, peft: seconds of CPU)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import REPO_ROOT, tiny_run_data

HEAVY = ("torch", "transformers", "peft", "training.recipe", "training.checkpoint")
# A fresh interpreter: the supervisor hears that ascii's phase "main" ended with a best checkpoint on disk.
# Its config arrives pickled, as Ray hands it over (validated once, by the driver).
PROBE = """
import json, pickle, sys
from pathlib import Path
from actors.supervisor import Supervisor

class Workers:
    promotions = []
    def promoted(self, specialist):
        self.promotions.append(specialist)

config = pickle.loads(Path(sys.argv[1]).read_bytes())
phase_dir = config.run_dir() / "ascii" / "main"
best = phase_dir / "checkpoints" / "ckpt-0003-e1-s6"
best.mkdir(parents=True)
(best / "state.json").write_text(json.dumps({"weights": "adapter", "base_dir": sys.argv[2]}))
done = {"best_checkpoint": str(best), "best_exact_match": 0.5}
(phase_dir / "phase_done.json").write_text(json.dumps(done))
workers = Workers()
supervisor = Supervisor(config, str(config.run_dir()), "probe", workers)
supervisor.report("ascii", {"kind": "phase_end", "specialist": "ascii", "phase": "main", "epoch": 1,
                            "step": 6, "status": "completed", "reason": "all epochs done"})
promoted = json.loads((config.run_dir() / "promoted.json").read_text())
print(json.dumps({"heavy": [m for m in sys.argv[3:] if m in sys.modules], "promoted": promoted,
                  "told": workers.promotions}))
"""


def test_a_phase_s_best_is_promoted_on_its_recorded_base_without_importing_the_recipe(tmp_path: Path) -> None:
    base = tmp_path / "bases" / "foundation-0123456789abcdef" / "model"
    config = tmp_path / "config.pickle"
    config.write_bytes(pickle.dumps(config_from_dict(tiny_run_data(tmp_path / "out"), RunConfig)))
    done = subprocess.run([sys.executable, "-c", PROBE, str(config), str(base), *HEAVY],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["heavy"] == []
    assert seen["told"] == ["ascii"]
    best = tmp_path / "out" / "tiny" / "ascii" / "main" / "checkpoints" / "ckpt-0003-e1-s6"
    assert seen["promoted"]["coordinator"] == {"path": str(base), "kind": "base"}
    assert seen["promoted"]["specialists"]["ascii"]["path"] == str(best / "adapter")
