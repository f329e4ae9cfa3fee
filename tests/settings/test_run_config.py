"""The whole config tree: its sections, a doc per field, the router section, machine checks, command-line
overrides that validate only the run section."""

from __future__ import annotations

import dataclasses
import shutil
import typing
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import yaml
from pydantic import BaseModel

from serving.routing import RouterSettings
from settings.errors import ConfigError
from settings.recipe import config_from_dict
from settings.router import RouterSection
from settings.run import RunConfig, load_run_config

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / "configs" / "demo.yaml"


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def documented_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    """Every model reachable from `model` through its fields' annotations, into `seen`."""
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                documented_models(annotation, seen)
            stack += list(typing.get_args(annotation))


def test_the_tree_has_every_section() -> None:
    assert set(RunConfig.model_fields) == {
        "run", "model", "training", "foundation", "specialists", "watchdog", "grader", "policies",
        "resources", "supervisor", "inbox", "notify", "router",
    }  # fmt: skip


def test_every_field_of_every_section_is_documented() -> None:
    models: set[type[BaseModel]] = set()
    documented_models(RunConfig, models)
    moved_in = {"PolicyLimits", "EvidenceThresholds", "RubricThresholds", "LLMGraderConfig", "NotifySection"}
    names = {model.__name__ for model in models}
    assert moved_in | {"RouterSection", "PhaseConfig", "TinyModelSection"} <= names
    undocumented = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undocumented == []


def test_a_router_section_loads_and_becomes_the_routers_settings(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["router"] = {"batch_max_size": 8, "batch_wait_ms": 2.5, "strategy": "group", "max_prompt_chars": 100}
    config = load_run_config(write(tmp_path, data))
    assert config.router_settings() == {
        "default_max_new_tokens": data["training"]["max_new_tokens"],
        "max_new_tokens_limit": 512,
        "max_prompt_chars": 100,
        "batch_max_size": 8,
        "batch_wait_ms": 2.5,
        "strategy": "group",
        "dtype": "auto",
        "device": None,
        "torch_threads": None,
        "constrained_decoding": True,
    }
    assert RouterSettings(**config.router_settings()).batch_max_size == 8


def test_the_router_section_and_the_routers_settings_have_the_same_fields() -> None:
    assert set(RouterSection.model_fields) == {field.name for field in dataclasses.fields(RouterSettings)}


def test_a_router_typo_is_caught_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("router:\n  batch_size: 8\n  strategy: fastest\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    rendered = str(caught.value)
    assert (
        "run.yaml:2: router.batch_size: unknown key 'batch_size' in router — did you mean 'batch_max_size'?"
        in rendered
    )
    assert "run.yaml:3: router.strategy: must be one of 'mixed' or 'group', got 'fastest'" in rendered


@pytest.mark.parametrize(
    ("training_max_new", "default", "limit", "served"),
    [
        (160, None, None, (160, 512)),
        (512, None, None, (512, 512)),
        (513, None, None, (513, 513)),
        (160, 100, None, (100, 512)),
        (160, 600, None, (600, 600)),
        (160, None, 160, (160, 160)),
        (160, 300, 300, (300, 300)),
    ],
)
def test_answer_lengths_default_to_trainings_and_the_limit_covers_them(
    training_max_new: int, default: int | None, limit: int | None, served: tuple[int, int]
) -> None:
    router = {"default_max_new_tokens": default, "max_new_tokens_limit": limit}
    config = config_from_dict({"training": {"max_new_tokens": training_max_new}, "router": router}, RunConfig)
    settings = config.router_settings()
    assert (settings["default_max_new_tokens"], settings["max_new_tokens_limit"]) == served


@pytest.mark.parametrize(("default", "limit", "answer"), [(None, 159, 160), (300, 299, 300)])
def test_a_limit_below_the_default_answer_length_is_refused(
    default: int | None, limit: int, answer: int
) -> None:
    router = {"default_max_new_tokens": default, "max_new_tokens_limit": limit}
    with pytest.raises(
        ConfigError,
        match=rf"router\.max_new_tokens_limit: must be >= the default answer length {answer} "
        rf"\(router\.default_max_new_tokens, else training\.max_new_tokens\), got {limit}",
    ):
        config_from_dict({"training": {"max_new_tokens": 160}, "router": router}, RunConfig)


def test_without_machine_checks_a_finished_runs_config_loads_anywhere(tmp_path: Path) -> None:
    data = {"model": {"base_model": str(tmp_path / "gone"), "method": "qlora", "dtype": "float16"}}
    path = write(tmp_path, data)
    config = load_run_config(path, machine_checks=False)
    assert config.model.method == "qlora"
    with pytest.raises(ConfigError, match=r"model\.base_model: base model directory .*gone' does not exist"):
        load_run_config(path)
    data["router"] = {"batch_max_size": 0}
    with pytest.raises(ConfigError, match=r"router\.batch_max_size: must be >= 1, got 0"):
        load_run_config(write(tmp_path, data), machine_checks=False)


def test_with_run_changes_the_run_section_only_and_validates_nothing_else(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}", encoding="utf-8")
    config = config_from_dict({"model": {"base_model": str(model_dir)}}, RunConfig)
    shutil.rmtree(model_dir)  # a second full validation would now fail on the model section
    changed = config.with_run(name="night-2", output_dir=tmp_path / "out")
    assert (changed.run.name, changed.run.output_dir) == ("night-2", tmp_path / "out")
    assert changed.run.seed == config.run.seed and changed.model is config.model
    assert changed.model_fields_set == config.model_fields_set | {"run"}
    assert config.run.name == "demo"  # the original is untouched


def test_with_run_reports_bad_values_under_run() -> None:
    config = config_from_dict({}, RunConfig)
    bad_name = r"--run-name: run\.name: must be letters, digits, '_', '\.' or '-', got 'bad name'"
    with pytest.raises(ConfigError, match=bad_name):
        config.with_run(source="--run-name", name="bad name")
    with pytest.raises(ConfigError, match=r"run\.nme: unknown key 'nme' in run — did you mean 'name'\?"):
        config.with_run(nme="x")


def test_a_validated_config_travels_to_another_process_as_it_is() -> None:
    # Ray pickles actor arguments with cloudpickle: the validated tree arrives equal, with no second parse.
    config = load_run_config(DEMO)
    again = cloudpickle.loads(cloudpickle.dumps(config))
    assert again == config and type(again.specialists["ascii"].phases[0]).__name__ == "PhaseConfig"
