"""Public entry points: saved weights load with peft / transformers, export merges, inputs checked first."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from settings.errors import ConfigError
from training.export import ExportError, export_checkpoint
from training.model import load_for_training, load_weights_into, pick_device
from training.recipe import foundation_model_dir, train_phase, train_specialist

PROBE = torch.tensor([[5, 17, 42, 99, 3, 250]])


def logits_of(model: torch.nn.Module) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=PROBE).logits


def test_saved_adapter_loads_with_peft_and_exports_merged(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = make_config()
    result = train_specialist(config, "ascii", resume=False)
    assert result.status == "completed" and result.method == "lora"
    assert result.base_model_dir == foundation_model_dir(config).resolve()
    checkpoint = result.final_checkpoint
    adapter_dir = checkpoint / "adapter"
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(result.base_model_dir)), str(adapter_dir)
    )
    trained = load_for_training(result.base_model_dir, config.model, "lora", pick_device(), 0)
    load_weights_into(trained, adapter_dir)
    expected = logits_of(trained)
    assert torch.allclose(logits_of(peft_model), expected, atol=1e-6)
    assert not torch.allclose(
        logits_of(AutoModelForCausalLM.from_pretrained(str(result.base_model_dir))), expected
    )

    merged_dir = export_checkpoint(checkpoint, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir))
    assert not any("lora" in name for name in merged.state_dict())
    assert torch.allclose(logits_of(merged), expected, atol=1e-5)
    assert (merged_dir / "tokenizer.json").is_file()
    with pytest.raises(ExportError, match="already exists; choose a new one or remove it"):
        export_checkpoint(checkpoint, merged_dir)


def test_export_refuses_a_corrupt_checkpoint(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = train_specialist(make_config(), "ascii", resume=False)
    (result.final_checkpoint / "state.json").write_text("{}")
    with pytest.raises(
        ExportError, match=r"is corrupt \(state\.json has \d+ bytes.*\); export an earlier one"
    ):
        export_checkpoint(result.final_checkpoint, tmp_path / "out")
    with pytest.raises(ExportError, match="neither a recipe checkpoint"):
        export_checkpoint(tmp_path, tmp_path / "out2")


def test_full_fine_tune_saves_a_standalone_model(make_config) -> None:  # type: ignore[no-untyped-def]
    result = train_specialist(make_config({"model": {"method": "full"}}), "ascii", resume=False)
    model_dir = result.final_checkpoint / "model"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    assert logits_of(model).shape == (1, PROBE.shape[1], model.config.vocab_size)


def test_phases_chain_and_train_phase_runs_one(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        {"specialists": {"ascii": {"phases": [{"name": "a"}, {"name": "b", "learning_rate": 0.001}]}}}
    )
    with pytest.raises(RuntimeError, match="phase 'a' of 'ascii' is not finished; train it first"):
        train_phase(config, "ascii", "b")
    first = train_phase(config, "ascii", "a")
    second = train_phase(config, "ascii", "b")
    assert (first.status, second.status) == ("completed", "completed")
    assert second.evals[-1].phase == "b"
    with pytest.raises(ValueError, match=r"specialist 'ascii' has no phase 'c'; phases: \['a', 'b'\]"):
        train_phase(config, "ascii", "c")


def test_evaluation_reports_per_task_scores_and_samples(make_config) -> None:  # type: ignore[no-untyped-def]
    result = train_specialist(make_config(), "ascii", resume=False)
    last = result.phases[0].last_eval
    assert last is not None and last.n_graded == 4
    assert set(last.per_task) == {"convert"} and last.per_task["convert"].n == 4
    assert 0.0 <= last.exact_match <= 1.0 and 0.0 <= last.format_validity <= 1.0
    assert last.samples and {s.id for s in last.samples} <= {f"tiny/val/{i:04d}" for i in range(12)}
    # The start's evaluation (eval_at_start), then one per epoch.
    assert [e.start for e in result.phases[0].evals] == [True, False, False] and last.val_loss > 0


def test_missing_corpus_and_unknown_specialist_fail_before_training(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = make_config({"specialists": {"ascii": {"corpus": str(tmp_path / "nowhere")}}})
    with pytest.raises(
        ConfigError,
        match=r"specialists\.ascii\.phases\[0\]\.corpus: corpus '.*nowhere' has no "
        r".*nowhere/train\.jsonl; generate the corpora",
    ):
        train_specialist(config, "ascii")
    with pytest.raises(ConfigError, match="no specialist named 'nope'; configured: ascii"):
        train_specialist(make_config(), "nope")


def test_extra_corpora_are_mixed_into_the_train_split_only(make_config) -> None:  # type: ignore[no-untyped-def]
    from training.recipe import specialist_plans, tiny_base_dir

    from .conftest import FIXTURE_CORPUS, Recorder

    config = make_config(
        {"specialists": {"ascii": {"phases": [{"name": "main", "extra_corpora": [str(FIXTURE_CORPUS)]}]}}}
    )
    [plan] = specialist_plans(config, "ascii", tiny_base_dir(config))
    assert plan.extra_train == (FIXTURE_CORPUS / "train.jsonl",)
    recorder = Recorder()
    result = train_specialist(config, "ascii", hooks=recorder, resume=False)
    [started] = recorder.of_kind("phase_start")
    assert started.total_steps == 12  # 96 train examples, micro-batch 8, one epoch (a phase's default)
    assert result.phases[0].last_eval.n_graded == 4 and result.phases[0].overlong_train.total == 96
    broken = make_config(
        {"specialists": {"ascii": {"phases": [{"name": "main", "extra_corpora": ["nope"]}]}}}
    )
    with pytest.raises(
        ConfigError, match=r"specialists\.ascii\.phases\[0\]\.extra_corpora: corpus 'nope' has no"
    ):
        train_specialist(broken, "ascii")
