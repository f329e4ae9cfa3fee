"""The `model` section: which base to train (builtin:tiny, builtin:hlx or a local directory) and how."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from fileio.digest import file_sha256
from settings.base import Problems, StrictModel, raise_problems

BUILTIN_TINY = "builtin:tiny"
GENERAL_CORPUS = "phase1_general"
"""The shipped general corpus: the foundation's, and the coordinator's val split."""
SHIPPED_CORPORA = (GENERAL_CORPUS, "ascii_specialist", "runic_specialist")
"""The corpora shipped under corpora/ (HLX_SPEC), general first."""
BUILTIN_HLX = "builtin:hlx"
SHIPPED_BASE_DIR = Path(__file__).resolve().parents[1] / "models" / "hlx-base"
"""Where `builtin:hlx` lives: the pretrained base committed with the code (`overnight base build`)."""
BASE_WEIGHTS = "model.safetensors"
BASE_MANIFEST = "base.json"
BASE_FILES = (BASE_MANIFEST, BASE_WEIGHTS, "config.json", "tokenizer.json", "tokenizer_config.json")
"""What a base directory must hold to load: checked (and the weights' sha256) when a config is loaded."""
REBUILD_BASE = (
    "rebuild it with `overnight base build` (about 40 minutes on one core), "
    "or restore it with `git checkout -- models/hlx-base`"
)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MACHINE_CHECKS = "machine_checks"
"""Validation-context key: False skips the checks of this machine (model directory, CUDA), for reading a
finished run's config somewhere else (the router's settings)."""


class TinyModelSection(StrictModel):
    """Architecture of `builtin:tiny`: a Qwen3 model with a byte-level BPE tokenizer from the corpora."""

    vocab_size: int = Field(1024, ge=300, le=65536)
    """Target BPE vocabulary size (byte alphabet + merges + specials); smaller = longer sequences."""
    hidden_size: int = Field(128, gt=0)
    """Width of the residual stream."""
    intermediate_size: int = Field(384, gt=0)
    """Width of the SwiGLU MLP."""
    num_layers: int = Field(4, gt=0)
    """Number of decoder layers."""
    num_heads: int = Field(4, gt=0)
    """Attention heads (query)."""
    num_kv_heads: int = Field(2, gt=0)
    """Key/value heads (grouped-query attention); must divide num_heads."""
    head_dim: int = Field(32, gt=0)
    """Width of one attention head."""
    max_position_embeddings: int = Field(1024, gt=0)
    """Longest sequence the model supports; must be >= every phase's max_length."""
    tokenizer_corpora: list[str] = Field(
        default_factory=lambda: list(SHIPPED_CORPORA), min_length=1
    )
    """Corpora (names or directories) whose train split the tokenizer is trained on."""
    init_seed: int = 0
    """Seed of the random initial weights (kept apart from run.seed so the cached base is reused)."""

    @model_validator(mode="after")
    def _heads_fit(self) -> TinyModelSection:
        problems: Problems = []
        if self.num_heads % self.num_kv_heads:
            problems.append(
                (("num_kv_heads",), f"must divide num_heads ({self.num_heads}), got {self.num_kv_heads}")
            )
        raise_problems(problems)
        return self


class LoraSection(StrictModel):
    """LoRA adapter shape (peft), used by methods lora and qlora."""

    rank: int = Field(16, gt=0)
    """Rank r of the low-rank update."""
    alpha: float = Field(32.0, gt=0)
    """Scaling numerator: the update is scaled by alpha / rank."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Dropout on the adapter input."""
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1,
    )
    """Module names that get adapters (Qwen3 names by default)."""


def base_model_path(base_model: str) -> Path:
    """The directory a base other than builtin:tiny loads from (builtin:hlx is the shipped base)."""
    if base_model == BUILTIN_HLX:
        return SHIPPED_BASE_DIR
    return Path(base_model).expanduser()


def shipped_base_problem(directory: Path | None = None) -> str | None:
    """Why the shipped base (or `directory`) is unusable: missing, or its weights do not match the
    manifest's sha256."""
    directory = SHIPPED_BASE_DIR if directory is None else directory
    manifest_path, weights = directory / BASE_MANIFEST, directory / BASE_WEIGHTS
    missing = [name for name in BASE_FILES if not (directory / name).is_file()]
    if missing:
        names = ", ".join(missing)
        return f"the shipped base {BUILTIN_HLX!r} is missing {names} in {directory}; {REBUILD_BASE}"
    try:
        expected = json.loads(manifest_path.read_text(encoding="utf-8"))["weights_sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"the shipped base's manifest {manifest_path} is unreadable ({exc!r}); {REBUILD_BASE}"
    if file_sha256(weights) != expected:
        return (
            f"the shipped base's weights {weights} are corrupt (sha256 differs from {BASE_MANIFEST}); "
            f"{REBUILD_BASE}"
        )
    return None


def base_model_problem(base_model: str) -> str | None:
    """Why `base_model` cannot be loaded without network, or None when it can."""
    if base_model == BUILTIN_HLX:
        return shipped_base_problem()
    if base_model.startswith("builtin:"):
        return (
            None
            if base_model == BUILTIN_TINY
            else f"the built-in models are '{BUILTIN_TINY}' and '{BUILTIN_HLX}', got {base_model!r}"
        )
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            return f"{base_model!r} is not a Hugging Face model directory (no config.json in it)"
        return None
    if HUB_ID.match(base_model) and not base_model.startswith((".", "/", "~")):
        local = f"models/{base_model.split('/')[-1]}"
        if local == base_model:
            # Already a local path (models/<name>): it is the directory that is missing, not a hub id.
            return (
                f"base model directory {base_model!r} does not exist; download the model into it first, "
                f"e.g. `huggingface-cli download Qwen/Qwen3-1.7B --local-dir {base_model}`"
            )
        return (
            f"{base_model!r} looks like a Hugging Face hub id, but runs never download: fetch it first "
            f"(`huggingface-cli download {base_model} --local-dir {local}`) and set base_model: {local}"
        )
    return f"base model directory {base_model!r} does not exist; pass a local Hugging Face model directory"


class ModelSection(StrictModel):
    """Which base model to train and how."""

    base_model: str = BUILTIN_TINY
    """`builtin:tiny` (random, trained from scratch with a foundation stage), `builtin:hlx` (the shipped
    pretrained base in models/hlx-base) or a local Hugging Face causal-LM directory (hub ids are refused)."""
    method: Literal["full", "lora", "qlora"] = "lora"
    """Specialist fine-tuning method; qlora (4-bit NF4 via bitsandbytes) needs CUDA."""
    lora: LoraSection = Field(default_factory=LoraSection)
    """Adapter shape for lora and qlora."""
    tiny: TinyModelSection = Field(default_factory=TinyModelSection)
    """Architecture of builtin:tiny (only allowed with that base)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Compute dtype: auto = bfloat16 on a CUDA GPU that supports it, float32 otherwise."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward to save memory (slower)."""

    @model_validator(mode="after")
    def _loadable_here(self, info: ValidationInfo) -> ModelSection:
        problems: Problems = []
        if "tiny" in self.model_fields_set and self.base_model != BUILTIN_TINY:
            problems.append((("tiny",), f"only applies to base_model '{BUILTIN_TINY}'; remove this section"))
        if (info.context or {}).get(MACHINE_CHECKS, True):
            problems += self.machine_problems()
        raise_problems(problems)
        return self

    def machine_problems(self) -> Problems:
        """What this machine lacks for this section: the model directory, CUDA for qlora or float16."""
        problems: Problems = []
        reason = base_model_problem(self.base_model)
        if reason:
            problems.append((("base_model",), reason))
        if self.method != "qlora" and self.dtype != "float16":
            # Nothing else to check: the driver and the CLIs are spared torch's import (seconds).
            return problems
        import torch

        has_cuda = torch.cuda.is_available()
        if self.method == "qlora" and not has_cuda:
            problems.append(
                (
                    ("method",),
                    "'qlora' needs a CUDA GPU (4-bit NF4 through bitsandbytes) and this machine has "
                    "none: use method 'lora' or 'full'",
                )
            )
        if self.dtype == "float16" and not has_cuda:
            problems.append(
                (("dtype",), "'float16' training needs a CUDA GPU; use 'float32' or 'auto' on CPU")
            )
        return problems
