"""Typed, strict recipe config: pydantic models with a docstring per field, and `load_config` for YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from settings.errors import (
    CROSS_FIELD_ERROR,
    ConfigError,
    ConfigProblem,
    problems_from_validation,
    read_yaml_mapping,
)

BUILTIN_TINY = "builtin:tiny"
FOUNDATION = "foundation"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Problems = list[tuple[tuple[str | int, ...], str]]


def raise_problems(problems: Problems) -> None:
    """Report several cross-field problems from one validator (they are expanded by ConfigError)."""
    if problems:
        raise PydanticCustomError(
            CROSS_FIELD_ERROR,
            "{count} cross-field problem(s)",
            {"count": len(problems), "problems": problems},
        )


class StrictModel(BaseModel):
    """Base of every config section: unknown keys fail, attribute docstrings become field docs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True)


class RunSection(StrictModel):
    """Where a run writes and how it is seeded."""

    name: str = "demo"
    """Run name; checkpoints go to `<output_dir>/<name>/<specialist>/<phase>/`."""
    output_dir: Path = Path("checkpoints")
    """Root of all run output (git-ignored). The built-in base and foundation are cached in `_builtin/`."""
    corpora_dir: Path = Path("corpora")
    """Where corpus names resolve: `<corpora_dir>/<name>/{train,val}.jsonl`."""
    seed: int = 0
    """Seed for data order (per epoch: seed + epoch), dropout and LoRA initialisation."""

    @model_validator(mode="after")
    def _name_is_a_directory_name(self) -> RunSection:
        if not NAME.match(self.name):
            raise_problems([(("name",), f"must be letters, digits, '_', '.' or '-', got {self.name!r}")])
        return self


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
        default_factory=lambda: ["phase1_general", "ascii_specialist", "runic_specialist"], min_length=1
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


def base_model_problem(base_model: str) -> str | None:
    """Why `base_model` cannot be loaded without network, or None when it can."""
    if base_model.startswith("builtin:"):
        return (
            None
            if base_model == BUILTIN_TINY
            else f"the only built-in model is '{BUILTIN_TINY}', got {base_model!r}"
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
    """`builtin:tiny` or a local Hugging Face causal-LM directory (hub ids are refused: no network)."""
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
    def _loadable_here(self) -> ModelSection:
        problems: Problems = []
        reason = base_model_problem(self.base_model)
        if reason:
            problems.append((("base_model",), reason))
        if "tiny" in self.model_fields_set and self.base_model != BUILTIN_TINY:
            problems.append((("tiny",), f"only applies to base_model '{BUILTIN_TINY}'; remove this section"))
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
        raise_problems(problems)
        return self


class SpikeGuardSection(StrictModel):
    """Skip a step whose loss or gradient norm is far above its rolling window (OLMo's skip-step guard).

    The robust z-score is (value - median) / (1.4826 * MAD) over the previous `window` steps of the phase
    (the scale is at least 1% of the median, so a near-constant window does not make noise a spike).
    Only spikes upward count; a skipped step consumes its batch but changes no weight or optimizer state."""

    enabled: bool = True
    """Check every step (the NaN/inf check runs regardless)."""
    window: int = Field(128, ge=2)
    """Steps of the phase the median and MAD are taken over (OLMo-core's rolling_interval_length)."""
    min_window: int = Field(64, ge=2)
    """Steps observed before the guard arms (OLMo-core arms at half its window); must be <= window."""
    z_threshold: float = Field(8.0, gt=0)
    """A step is skipped when its robust z-score is strictly above this. OLMo-core's 6 is on the mean and
    standard deviation, which heavy tails widen; on the median and MAD, ordinary grad-norm steps of the tiny
    model reached 6.9, so the default leaves room above them."""

    @model_validator(mode="after")
    def _arms_within_window(self) -> SpikeGuardSection:
        if self.min_window > self.window:
            raise_problems([(("min_window",), f"must be <= window ({self.window}), got {self.min_window}")])
        return self


class TrainingSection(StrictModel):
    """Hyperparameters shared by every phase; a phase can override any of them."""

    learning_rate: float = Field(1e-3, gt=0)
    """Peak learning rate (AdamW)."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW decoupled weight decay."""
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    """Fraction of the phase spent warming up linearly from 0 to the peak LR."""
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Decay after warmup."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """LR at the end of the decay, as a fraction of the peak."""
    micro_batch_size: int = Field(16, gt=0)
    """Examples per forward/backward pass."""
    grad_accum_steps: int = Field(1, gt=0)
    """Micro-batches per optimizer step (effective batch = micro_batch_size * grad_accum_steps)."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping threshold (global L2 norm)."""
    max_length: int = Field(256, ge=8)
    """Longest prompt + response in tokens; longer examples are reported, then truncated or dropped."""
    overlong: Literal["truncate", "drop"] = "drop"
    """What to do with examples longer than max_length (always reported with a count and example ids)."""
    bucket_size: int = Field(256, gt=0)
    """Examples sorted by length within each shuffled chunk of this size, so batches pad little."""
    checkpoint_every_epochs: int = Field(1, ge=0)
    """Save a checkpoint every N epochs (0: only at the end of each phase and on demand)."""
    keep_last: int = Field(2, ge=1)
    """Checkpoints kept per phase besides the best one (by val exact match)."""
    eval_every_epochs: int = Field(1, ge=1)
    """Evaluate every N epochs (and always after the last one)."""
    eval_subset: int = Field(64, ge=0)
    """Val examples graded by greedy generation each evaluation (0: val loss only)."""
    eval_batch_size: int = Field(32, gt=0)
    """Prompts generated together during evaluation."""
    max_new_tokens: int = Field(160, gt=0)
    """Generation cap during evaluation (also capped at the longest reference + 16)."""
    constrained_decoding: bool = False
    """Decode evaluation answers in a value format under that format's grammar (training.constrained), so
    every one parses. Off by default: format validity then measures what the model learned."""
    log_every_steps: int = Field(10, gt=0)
    """Structured log line every N optimizer steps (every step is still sent to the hooks)."""
    heartbeat_interval_s: float = Field(2.0, gt=0)
    """Minimum seconds between heartbeats sent to the hooks while training, evaluating or paused."""
    spike_guard: SpikeGuardSection = Field(default_factory=SpikeGuardSection)
    """Skip-step guard against loss and gradient-norm spikes (see SpikeGuardSection)."""


# Every phase may override any training default; deriving the fields keeps the two from drifting apart.
TrainingOverrides: type[StrictModel] = create_model(
    "TrainingOverrides",
    __base__=StrictModel,
    __doc__="Per-phase overrides of the training defaults (unset keys inherit them).",
    **{
        name: (
            field.annotation | None,
            Field(None, description=f"Overrides training.{name}. {field.description}"),
        )
        for name, field in TrainingSection.model_fields.items()
    },
)


class FaultInjection(StrictModel):
    """Chaos testing on CPU, off by default. Each fault fires once per phase dir (injected_faults.json)."""

    nan_at_step: int | None = Field(None, ge=1)
    """Make the loss NaN at this optimizer step (1-based) of the phase."""
    oom_at_step: int | None = Field(None, ge=1)
    """Raise a simulated out-of-memory error at this step."""
    hang_at_step: int | None = Field(None, ge=1)
    """Stop sending heartbeats and sleep at this step until the hooks ask to stop."""
    crash_at_step: int | None = Field(None, ge=1)
    """Crash at this step (see crash_mode)."""
    spike_at_step: int | None = Field(None, ge=1)
    """Multiply the loss (and so the gradients) of this step by SPIKE_FACTOR, as a bad batch would."""
    disk_full_at_step: int | None = Field(None, ge=1)
    """The first epoch checkpoint written at or after this step fails as if the disk were full (ENOSPC)."""
    crash_mode: Literal["exception", "exit"] = "exception"
    """exception: raise InjectedCrash out of the recipe; exit: os._exit(70), like a killed process."""


class PhaseConfig(TrainingOverrides):  # type: ignore[misc, valid-type]
    """One phase of a specialist's curriculum; it starts from the previous phase's final weights."""

    name: str = "main"
    """Phase name (a directory name)."""
    corpus: str | None = None
    """Corpus name or directory; defaults to the specialist's corpus."""
    extra_corpora: list[str] = Field(default_factory=list)
    """More corpora whose train split is mixed into this phase's (validation stays on `corpus`)."""
    epochs: int = Field(1, gt=0)
    """Passes over the train split."""


class SpecialistConfig(StrictModel):
    """One expert of the MoE: a LoRA (or full) fine-tune of the base on its track's corpus."""

    corpus: str
    """Default corpus (name under run.corpora_dir, or a directory with train.jsonl and val.jsonl)."""
    track: Literal["general", "ascii", "runic"]
    """Which requests the router sends to this expert."""
    phases: list[PhaseConfig] = Field(default_factory=lambda: [PhaseConfig()], min_length=1)
    """The curriculum, trained in order."""
    faults: dict[str, FaultInjection] = Field(default_factory=dict)
    """Fault injection per phase name (chaos tests)."""

    @model_validator(mode="after")
    def _phases_consistent(self) -> SpecialistConfig:
        problems: Problems = []
        seen: set[str] = set()
        for index, phase in enumerate(self.phases):
            if not NAME.match(phase.name):
                problems.append((("phases", index, "name"), f"must be a directory name, got {phase.name!r}"))
            if phase.name in seen:
                problems.append((("phases", index, "name"), f"duplicate phase name {phase.name!r}"))
            seen.add(phase.name)
        for phase_name in self.faults:
            if phase_name not in seen:
                problems.append(
                    (("faults", phase_name), f"names no phase of this specialist; phases are {sorted(seen)}")
                )
        raise_problems(problems)
        return self


class FoundationConfig(TrainingOverrides):  # type: ignore[misc, valid-type]
    """builtin:tiny only: full fine-tune of the random base on the general corpus (the coordinator)."""

    corpus: str = "phase1_general"
    """Corpus name or directory."""
    extra_corpora: list[str] = Field(default_factory=list)
    """More corpora whose train split is mixed in (validation stays on `corpus`); the foundation is the base
    of every specialist, and a 1M-parameter model memorises 2000 examples long before it generalises."""
    epochs: int = Field(4, gt=0)
    """Passes over the train split."""
    faults: FaultInjection = Field(default_factory=FaultInjection)
    """Fault injection for the foundation stage."""


class RecipeConfig(StrictModel):
    """Everything the training recipe needs. The full run config extends this with more sections."""

    run: RunSection = Field(default_factory=RunSection)
    """Run name, output location, seed."""
    model: ModelSection = Field(default_factory=ModelSection)
    """Base model and fine-tuning method."""
    training: TrainingSection = Field(default_factory=TrainingSection)
    """Training defaults for every phase."""
    foundation: FoundationConfig = Field(default_factory=FoundationConfig)
    """The foundation stage (builtin:tiny only)."""
    specialists: dict[str, SpecialistConfig] = Field(default_factory=dict)
    """Experts to train, by name."""

    @model_validator(mode="after")
    def _sections_agree(self) -> RecipeConfig:
        problems: Problems = []
        builtin = self.model.base_model == BUILTIN_TINY
        if "foundation" in self.model_fields_set and not builtin:
            problems.append(
                (
                    ("foundation",),
                    f"only used with base_model '{BUILTIN_TINY}'; remove it for a local base model",
                )
            )
        for name in self.specialists:
            if name == FOUNDATION:
                problems.append((("specialists", name), "'foundation' is reserved for the foundation stage"))
            elif not NAME.match(name):
                problems.append((("specialists", name), "must be letters, digits, '_', '.' or '-'"))
        if builtin:
            limit = self.model.tiny.max_position_embeddings
            stages: list[tuple[tuple[str | int, ...], Any]] = [(("foundation",), self.foundation)]
            for name, specialist in self.specialists.items():
                stages += [(("specialists", name, "phases", i), p) for i, p in enumerate(specialist.phases)]
            for loc, stage in stages:
                length = stage.max_length or self.training.max_length
                if length > limit:
                    problems.append(
                        (
                            (*loc, "max_length"),
                            f"must be <= model.tiny.max_position_embeddings ({limit}), got {length}",
                        )
                    )
        raise_problems(problems)
        return self

    def settings_for(self, overrides: BaseModel) -> TrainingSection:
        """The training defaults with one phase's (or the foundation's) overrides applied."""
        updates = {
            name: getattr(overrides, name)
            for name in TrainingSection.model_fields
            if getattr(overrides, name, None) is not None
        }
        return self.training.model_copy(update=updates)

    def corpus_dir(self, corpus: str) -> Path:
        """A corpus name (under run.corpora_dir) or a directory holding train.jsonl and val.jsonl."""
        direct = Path(corpus).expanduser()
        if direct.is_dir() and (direct / "train.jsonl").is_file():
            return direct
        return self.run.corpora_dir / corpus

    def run_dir(self) -> Path:
        return self.run.output_dir / self.run.name


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def config_from_dict(
    data: dict[str, Any], model: type[ConfigT] = RecipeConfig, source: str = "<config>"
) -> ConfigT:
    """Validate an in-memory config; raises ConfigError listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, problems_from_validation(exc, model)) from None


def load_config(path: str | Path, model: type[ConfigT] = RecipeConfig) -> ConfigT:
    """Read a YAML config; raises ConfigError naming the file, line and key path of every problem.

    Every key-level problem of every section is reported together; checks that relate sections to
    each other (e.g. max_length against the model's positions) run once the sections themselves are valid.
    """
    config_path = Path(path)
    data, lines, duplicates = read_yaml_mapping(config_path)
    problems: list[ConfigProblem] = list(duplicates)
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        problems += problems_from_validation(exc, model, lines)
        config = None
    if problems or config is None:
        problems.sort(key=lambda problem: problem.line if problem.line is not None else 0)
        raise ConfigError(str(config_path), problems)
    return config
