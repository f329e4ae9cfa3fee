"""Load a base model and tokenizer from a local directory and prepare it for full, LoRA or QLoRA training."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Literal

import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from peft.utils import set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from settings.recipe import ModelSection
from training.quiet import peft_without_alias_warning, quiet_transformers

Method = Literal["full", "lora", "qlora"]
WEIGHTS_FULL = "model"
WEIGHTS_ADAPTER = "adapter"


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def compute_dtype(setting: str, device: torch.device) -> torch.dtype:
    """The dtype matmuls run in: 'auto' is bfloat16 on a CUDA GPU that supports it, float32 otherwise."""
    if setting == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[setting]


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token_id is None:
        # Causal-LM checkpoints often ship without a pad token; padding is masked out, so EOS serves.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_for_training(
    base_dir: Path, settings: ModelSection, method: Method, device: torch.device, init_seed: int
) -> PreTrainedModel:
    """Base weights from base_dir, ready for `method`: full = all weights train in float32; lora = frozen
    base in the compute dtype plus float32 adapters; qlora = 4-bit NF4 base plus adapters (CUDA only)."""
    dtype = compute_dtype(settings.dtype, device)
    with quiet_transformers():
        if method == "qlora":
            from transformers import BitsAndBytesConfig

            quantization = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            )
            model = AutoModelForCausalLM.from_pretrained(
                str(base_dir),
                quantization_config=quantization,
                dtype=dtype,
                device_map={"": device.index or 0},
            )
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=settings.gradient_checkpointing
            )
        else:
            # Full fine-tuning keeps float32 master weights; mixed precision comes from autocast in the loop.
            weights_dtype = torch.float32 if method == "full" else dtype
            model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=weights_dtype).to(device)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if method == "full":
        return model
    lora = LoraConfig(
        r=settings.lora.rank,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=list(settings.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    # Adapter initialisation draws random numbers; seed it so a phase start is reproducible.
    torch.manual_seed(init_seed)
    with peft_without_alias_warning():
        return get_peft_model(model, lora)


def weights_subdir(method: Method) -> str:
    return WEIGHTS_FULL if method == "full" else WEIGHTS_ADAPTER


def save_weights(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, directory: Path) -> None:
    """Full model: save_pretrained (from_pretrained loads it). LoRA: the adapter only, in the format
    PeftModel.from_pretrained loads. The tokenizer goes alongside so either directory stands alone."""
    with quiet_transformers():
        model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))


def load_weights_into(model: PreTrainedModel, directory: Path) -> None:
    """Overwrite the trainable weights of `model` in place with those saved in `directory`."""
    if isinstance(model, PeftModel):
        adapter_file = directory / "adapter_model.safetensors"
        if not adapter_file.is_file():
            raise FileNotFoundError(
                f"{directory} holds no adapter_model.safetensors; is it a full-model checkpoint?"
            )
        result = set_peft_model_state_dict(model, load_file(str(adapter_file), device=str(_device_of(model))))
        unexpected = list(getattr(result, "unexpected_keys", []) or [])
        if unexpected:
            raise ValueError(
                f"adapter in {directory} does not fit this model: unexpected keys {unexpected[:5]}"
            )
        return
    state: dict[str, torch.Tensor] = {}
    shards = sorted(directory.glob("*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"{directory} holds no *.safetensors weights")
    for shard in shards:
        state.update(load_file(str(shard), device=str(_device_of(model))))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise ValueError(
            f"weights in {directory} do not fit this model: missing {sorted(set(missing) - tied)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )


def _device_of(model: PreTrainedModel) -> torch.device:
    return next(model.parameters()).device


def trainable_parameters(model: PreTrainedModel) -> list[torch.nn.Parameter]:
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def release_memory() -> None:
    """Return freed memory to the allocator (after an OOM, or between phases)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_for_inference(weights_dir: Path, base_dir: Path | None = None) -> PreTrainedModel:
    """A model ready for generation from a full-model directory, or from an adapter directory on its
    base (base_dir, or the base recorded in the adapter's config)."""
    device = pick_device()
    with quiet_transformers():
        if not (weights_dir / "adapter_config.json").is_file():
            return AutoModelForCausalLM.from_pretrained(str(weights_dir)).to(device).eval()
        base = base_dir or _recorded_base(weights_dir)
        model = AutoModelForCausalLM.from_pretrained(str(base)).to(device)
        with peft_without_alias_warning():
            return PeftModel.from_pretrained(model, str(weights_dir)).eval()


def _recorded_base(adapter_dir: Path) -> Path:
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    return Path(config["base_model_name_or_path"])
