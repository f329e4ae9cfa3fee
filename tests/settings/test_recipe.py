"""Config validation: unknown keys with suggestions, every problem at once, model paths, CUDA-only options."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from settings.errors import ConfigError
from settings.recipe import RecipeConfig, config_from_dict, load_config

NO_CUDA = not torch.cuda.is_available()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_validate_and_phase_overrides_inherit_the_rest() -> None:
    config = config_from_dict(
        {
            "specialists": {
                "ascii": {"corpus": "c", "track": "ascii", "phases": [{"name": "p", "learning_rate": 0.5}]}
            }
        }
    )
    settings = config.settings_for(config.specialists["ascii"].phases[0])
    assert settings.learning_rate == 0.5
    assert settings.micro_batch_size == config.training.micro_batch_size


def test_unknown_key_suggests_the_closest_valid_key(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  learning_rte: 0.001\n")
    with pytest.raises(
        ConfigError,
        match=r"run\.yaml:2: training\.learning_rte: unknown key 'learning_rte' in "
        r"training — did you mean 'learning_rate'\?",
    ):
        load_config(path)


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "run:\n  zzz: 1\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'zzz' in run; valid keys: corpora_dir, name, output_dir, seed"
    ):
        load_config(path)


def test_every_problem_is_reported_at_once_with_key_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
training:
  learning_rte: 0.001
  micro_batch_size: 0
model:
  method: sideways
specialists:
  ascii:
    corpus: ascii_specialist
    track: ascii
    phases:
      - {name: a, epochs: 1}
      - {name: b, epochs: 0}
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    rendered = str(error)
    assert "4 config problems" in rendered
    assert "training.learning_rte: unknown key" in rendered
    assert "training.micro_batch_size: must be > 0, got 0" in rendered
    assert "model.method: must be one of 'full', 'lora' or 'qlora', got 'sideways'" in rendered
    assert "run.yaml:12: specialists.ascii.phases[1].epochs: must be > 0, got 0" in rendered
    assert [problem.line for problem in error.problems] == sorted(problem.line for problem in error.problems)


def test_duplicate_yaml_keys_are_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "run:\n  seed: 1\n  seed: 2\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:3: run\.seed: duplicate key \(first given on line 2\)"):
        load_config(path)


def test_missing_file_and_bad_yaml_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"run\.yaml:2: invalid YAML: expected .,. or .\]."):
        load_config(write(tmp_path, "training: [1, 2\n"))


def test_missing_model_directory_fails_at_config_time(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(
        ConfigError, match=r"model\.base_model: base model directory .*no_such_model' does not exist"
    ):
        config_from_dict({"model": {"base_model": str(missing)}})


def test_directory_without_config_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is not a Hugging Face model directory \(no config\.json in it\)"):
        config_from_dict({"model": {"base_model": str(tmp_path)}})


def test_hub_id_is_refused_with_download_instructions() -> None:
    with pytest.raises(
        ConfigError,
        match=r"'Qwen/Qwen3-1\.7B' looks like a Hugging Face hub id, but runs never download: fetch it first "
        r"\(`huggingface-cli download Qwen/Qwen3-1\.7B --local-dir models/Qwen3-1\.7B`\)",
    ):
        config_from_dict({"model": {"base_model": "Qwen/Qwen3-1.7B"}})


QLORA_REFUSED = "model.method: 'qlora' needs a CUDA GPU"
FLOAT16_REFUSED = "model.dtype: 'float16' training needs a CUDA GPU"


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU-only error")
@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"method": "qlora", "dtype": "float16"}, [QLORA_REFUSED, FLOAT16_REFUSED]),
        ({"method": "qlora"}, [QLORA_REFUSED]),
        ({"dtype": "float16"}, [FLOAT16_REFUSED]),
    ],
)
def test_qlora_and_float16_without_cuda_fail_at_config_time(
    model: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"model": model})
    rendered = str(caught.value)
    assert [line for line in (QLORA_REFUSED, FLOAT16_REFUSED) if line in rendered] == expected


def test_cross_field_problems_name_their_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(
            {
                "model": {"tiny": {"num_heads": 4, "num_kv_heads": 3, "max_position_embeddings": 64}},
                "training": {"max_length": 128},
                "specialists": {
                    "foundation": {"corpus": "c", "track": "general"},
                    "ascii": {"corpus": "c", "track": "ascii", "faults": {"nope": {"nan_at_step": 2}}},
                },
            }
        )
    rendered = str(caught.value)
    assert "model.tiny.num_kv_heads: must divide num_heads (4), got 3" in rendered
    assert "specialists.ascii.faults.nope: names no phase of this specialist; phases are ['main']" in rendered


def test_root_checks_report_reserved_names_and_position_limits() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(
            {
                "model": {"tiny": {"max_position_embeddings": 64}},
                "training": {"max_length": 128},
                "specialists": {"foundation": {"corpus": "c", "track": "general"}},
            }
        )
    rendered = str(caught.value)
    assert "specialists.foundation: 'foundation' is reserved" in rendered
    assert "foundation.max_length: must be <= model.tiny.max_position_embeddings (64), got 128" in rendered


def test_sections_for_builtin_only_are_refused_with_a_local_base(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"model\.tiny: only applies to base_model 'builtin:tiny'"):
        config_from_dict({"model": {"base_model": str(tmp_path), "tiny": {}}})
    with pytest.raises(ConfigError, match=r"foundation: only used with base_model 'builtin:tiny'"):
        config_from_dict({"model": {"base_model": str(tmp_path)}, "foundation": {"epochs": 1}})


def test_subclass_adds_sections_and_keeps_suggestions(tmp_path: Path) -> None:
    from pydantic import BaseModel, ConfigDict

    class WatchdogSection(BaseModel):
        model_config = ConfigDict(extra="forbid")
        grade_every_epochs: int = 1

    class RunConfig(RecipeConfig):
        watchdog: WatchdogSection = WatchdogSection()

    path = write(tmp_path, "watchdog:\n  grade_every_epoch: 2\n")
    with pytest.raises(ConfigError, match="did you mean 'grade_every_epochs'"):
        load_config(path, model=RunConfig)


def test_demo_config_is_valid() -> None:
    from settings.run import RunConfig

    demo = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    config = load_config(demo, RunConfig)
    assert config.model.base_model == "builtin:hlx"
    assert {"ascii", "runic"} <= set(config.specialists)


def test_scratch_config_is_valid_and_trains_from_scratch() -> None:
    from settings.run import RunConfig

    scratch = Path(__file__).resolve().parents[2] / "configs" / "scratch.yaml"
    config = load_config(scratch, RunConfig)
    assert config.model.base_model == "builtin:tiny"
    assert {"ascii", "runic"} <= set(config.specialists)
