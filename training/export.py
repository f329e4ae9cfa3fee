"""Export a checkpoint as a standalone Hugging Face model: a LoRA adapter is merged into its base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from training.checkpoint import verify_checkpoint, write_dir_atomically
from training.checkpoint_state import read_state
from training.model import load_tokenizer
from training.quiet import quiet_transformers


class ExportError(ValueError):
    """A checkpoint that cannot be exported; the message says what to do."""


def resolve_weights(checkpoint: Path) -> tuple[Path, str, Path | None]:
    """(weights directory, method kind 'full'|'adapter', base directory recorded with it)."""
    if (checkpoint / "manifest.json").is_file():
        reason = verify_checkpoint(checkpoint)
        if reason is not None:
            raise ExportError(f"checkpoint {checkpoint} is corrupt ({reason}); export an earlier one")
        state = read_state(checkpoint)
        weights = checkpoint / state["weights"]
        kind = "full" if state["method"] == "full" else "adapter"
        return weights, kind, Path(state["base_dir"])
    if (checkpoint / "adapter_config.json").is_file():
        recorded = json.loads((checkpoint / "adapter_config.json").read_text(encoding="utf-8"))
        base = recorded.get("base_model_name_or_path")
        return checkpoint, "adapter", Path(base) if base else None
    if (checkpoint / "config.json").is_file():
        return checkpoint, "full", None
    raise ExportError(
        f"{checkpoint} is neither a recipe checkpoint (manifest.json), an adapter (adapter_config.json) "
        "nor a model directory (config.json); pass a ckpt-* directory from a phase's checkpoints/"
    )


def export_checkpoint(checkpoint: Path, out_dir: Path, base_dir: Path | None = None) -> Path:
    """Write a standalone model (weights + tokenizer) that AutoModelForCausalLM.from_pretrained loads.
    A LoRA adapter is merged into its base (the recorded one, or base_dir when given)."""
    if out_dir.exists():
        raise ExportError(f"output directory {out_dir} already exists; choose a new one or remove it")
    weights, kind, recorded_base = resolve_weights(checkpoint)
    if kind == "full":
        return write_dir_atomically(out_dir, lambda target: _copy_model(weights, target))
    base = base_dir or recorded_base
    if base is None or not (base / "config.json").is_file():
        raise ExportError(
            f"the adapter's base model {str(base)!r} is not a local model directory; pass --base DIR"
        )

    def merge_into(target: Path) -> None:
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
            merged = PeftModel.from_pretrained(model, str(weights)).merge_and_unload()
            merged.save_pretrained(str(target))
        load_tokenizer(base).save_pretrained(str(target))

    return write_dir_atomically(out_dir, merge_into)


def _copy_model(source: Path, target: Path) -> None:
    for path in source.iterdir():
        if path.is_file():
            shutil.copy2(path, target / path.name)
