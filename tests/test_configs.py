"""Every shipped run config validates against RunConfig, except for what this machine lacks (GPU, model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from serving.routing import RouterSettings
from settings.errors import ConfigError
from settings.model import BUILTIN_HLX, base_model_path
from settings.recipe import BUILTIN_TINY, FOUNDATION
from settings.run import RunConfig, load_run_config
from training.recipe import check_inputs

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO_ROOT / "configs").glob("*.yaml"))
HELIX = REPO_ROOT / "configs" / "helix-moe.yaml"
# Configs that must validate completely on any machine (CPU only, nothing downloaded).
MUST_VALIDATE_HERE = ("demo.yaml", "scratch.yaml", "chaos.yaml")


@pytest.fixture(autouse=True)
def _from_the_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths in configs (corpora/, models/) mean the repository root, where runs are started.
    monkeypatch.chdir(REPO_ROOT)


def machine_problems(config_path: Path) -> dict[str, str]:
    """The config's problems that depend on this machine (a GPU, a downloaded model), by key path.

    Anything else wrong with the config fails here, so a config passes only if every other key is valid.
    """
    try:
        load_run_config(config_path)
    except ConfigError as err:
        problems = {problem.path: problem.message for problem in err.problems}
    else:
        return {}
    machine_bound = {"model.base_model", "model.method", "model.dtype"}
    assert set(problems) <= machine_bound, f"{config_path.name}: {problems}"
    return problems


def expected_machine_problems(data: dict[str, Any]) -> set[str]:
    """What this machine cannot provide for the model section of a raw config."""
    model = data.get("model", {})
    base = str(model.get("base_model", BUILTIN_TINY))
    expected = set()
    if base != BUILTIN_TINY and not (base_model_path(base) / "config.json").is_file():
        expected.add("model.base_model")
    if not torch.cuda.is_available():
        if model.get("method") == "qlora":
            expected.add("model.method")
        if model.get("dtype") == "float16":
            expected.add("model.dtype")
    return expected


def without_machine_checks(config_path: Path) -> RunConfig:
    """The config validated as a run elsewhere reads it (a GPU machine's run served here): every key is
    checked but the model directory and CUDA."""
    return load_run_config(config_path, machine_checks=False)


def test_the_shipped_configs_are_all_tested() -> None:
    names = {path.name for path in CONFIGS}
    assert {"demo.yaml", "scratch.yaml", "helix-moe.yaml"} <= names
    assert set(MUST_VALIDATE_HERE) - names <= {"chaos.yaml"}  # chaos.yaml is optional


@pytest.mark.parametrize("config_path", CONFIGS, ids=[path.name for path in CONFIGS])
def test_only_machine_bound_problems_remain(config_path: Path) -> None:
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert set(machine_problems(config_path)) == expected_machine_problems(data)


@pytest.mark.parametrize(
    "name", [name for name in MUST_VALIDATE_HERE if (REPO_ROOT / "configs" / name).is_file()]
)
def test_cpu_configs_validate_fully_with_their_corpora(name: str) -> None:
    config = load_run_config(REPO_ROOT / "configs" / name)
    assert config.model.base_model in (BUILTIN_TINY, BUILTIN_HLX)
    check_inputs(config, [FOUNDATION, *config.specialists])  # every corpus they name is shipped


@pytest.mark.parametrize("config_path", CONFIGS, ids=[path.name for path in CONFIGS])
def test_every_shipped_config_is_valid_but_for_this_machine(config_path: Path) -> None:
    config = without_machine_checks(config_path)
    # The router's settings resolve to ones the router accepts; with no router section, answers are as long
    # as the evaluation's.
    served = RouterSettings(**config.router_settings())
    assert served.default_max_new_tokens == config.training.max_new_tokens <= served.max_new_tokens_limit


@pytest.mark.parametrize("config_path", CONFIGS, ids=[path.name for path in CONFIGS])
def test_the_watchdog_cadence_meets_the_evaluations(config_path: Path) -> None:
    config = without_machine_checks(config_path)
    # The supervisor grades when an evaluation arrives for an epoch with (epoch + 1) % every == 0, so it
    # grades every lcm(every, eval interval) epochs: unless one divides the other, less often than asked
    # (watchdog every 10 with evaluation every 3 grades every 30 epochs, or only at the phase's end).
    for name, specialist in config.specialists.items():
        for phase in specialist.phases:
            every = config.watchdog.every_for(phase.name)
            evaluated = config.settings_for(phase).eval_every_epochs
            assert every % evaluated == 0 or evaluated % every == 0, (
                f"{name}/{phase.name}: watchdog every {every} epochs, evaluation every {evaluated}"
            )


def test_helix_moe_reports_only_the_model_directory_and_cuda_here() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: qlora validates")
    problems = machine_problems(HELIX)
    assert set(problems) >= {"model.method"}
    assert "qlora" in problems["model.method"] and "CUDA" in problems["model.method"]
    if not (REPO_ROOT / "models" / "qwen3-1.7b" / "config.json").is_file():
        assert set(problems) == {"model.base_model", "model.method"}
        assert "models/qwen3-1.7b" in problems["model.base_model"]


def test_a_typo_beside_the_machine_bound_problems_is_caught(tmp_path: Path) -> None:
    raw = yaml.safe_load(HELIX.read_text(encoding="utf-8"))
    raw["watchdog"]["every_epoch"] = 5
    broken = tmp_path / "helix-typo.yaml"
    broken.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"watchdog\.every_epoch"):
        machine_problems(broken)


def test_helix_moe_is_the_seeds_recipe() -> None:
    # Validated without this machine's checks, so the cross-section checks (which wait for valid sections)
    # run too: every key but the model directory and CUDA is valid as written.
    raw = yaml.safe_load(HELIX.read_text(encoding="utf-8"))
    config = without_machine_checks(HELIX)
    assert (config.model.base_model, config.model.method) == ("models/qwen3-1.7b", "qlora")
    training = config.training
    assert (training.micro_batch_size, training.grad_accum_steps, training.max_length) == (2, 8, 384)
    assert set(config.specialists) == {"ascii", "runic"}
    for name, specialist in config.specialists.items():
        assert specialist.track == name and specialist.corpus == f"{name}_specialist"
        phases = [(p.name, p.corpus or specialist.corpus, p.epochs) for p in specialist.phases]
        assert phases == [("phase1", "phase1_general", 75), ("phase2", f"{name}_specialist", 250)]
    assert (config.watchdog.every_for("phase1"), config.watchdog.every_for("phase2")) == (10, 25)
    assert config.supervisor.parallel_specialists
    assert config.resources.trainer_num_gpus == 1
    assert "foundation" not in raw and "tiny" not in raw["model"]  # only for builtin:tiny


def test_a_missing_local_model_directory_is_reported_as_one() -> None:
    if (REPO_ROOT / "models" / "qwen3-1.7b" / "config.json").is_file():
        pytest.skip("the model directory exists here")
    message = machine_problems(HELIX)["model.base_model"]
    assert "does not exist" in message
    assert "huggingface-cli download models/" not in message
