"""CUDA-only paths: QLoRA (4-bit NF4), bf16 compute and gradient checkpointing. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from training.recipe import train_specialist

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_qlora_trains_and_saves_an_adapter(make_config) -> None:  # type: ignore[no-untyped-def]
    result = train_specialist(make_config({"model": {"method": "qlora"}}), "ascii", resume=False)
    assert result.status == "completed"
    assert (result.final_checkpoint / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("method", ["lora", "full"])
def test_bf16_with_gradient_checkpointing(make_config, method: str) -> None:  # type: ignore[no-untyped-def]
    changes = {"model": {"method": method, "dtype": "bfloat16", "gradient_checkpointing": True}}
    result = train_specialist(make_config(changes), "ascii", resume=False)
    assert result.status == "completed"
    assert all(loss == loss for loss in result.phases[0].step_losses)
