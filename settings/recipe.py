"""The recipe's config tree (run, model, training, foundation, specialists) and the YAML loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from settings.base import NAME, Problems, StrictModel, raise_problems
from settings.errors import ConfigError, ConfigProblem, problems_from_validation, read_yaml_mapping
from settings.model import (
    BUILTIN_TINY,
    GENERAL_CORPUS,
    MACHINE_CHECKS,
    LoraSection,
    ModelSection,
    TinyModelSection,
    base_model_problem,
)
from settings.training import FaultInjection, SpikeGuardSection, TrainingOverrides, TrainingSection

# Importers of the recipe's config find every name here (the sections live in their own modules).
__all__ = [
    "BUILTIN_TINY",
    "FOUNDATION",
    "FaultInjection",
    "FoundationConfig",
    "LoraSection",
    "ModelSection",
    "PhaseConfig",
    "RecipeConfig",
    "RunSection",
    "SpecialistConfig",
    "SpikeGuardSection",
    "TinyModelSection",
    "TrainingOverrides",
    "TrainingSection",
    "base_model_problem",
    "config_from_dict",
    "load_config",
]

FOUNDATION = "foundation"


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


class RunOnly(StrictModel):
    """The run section alone, validated again when the command line changes it (RecipeConfig.with_run)."""

    run: RunSection
    """Run name, output location, seed."""


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

    corpus: str = GENERAL_CORPUS
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

    def with_run(self, source: str = "<command line>", **changes: Any) -> Self:
        """This config with run-section keys changed (the command line's name, output_dir, corpora_dir).
        Only the run section is validated again: the rest stays as loaded, so the tree is parsed once."""
        try:
            only = RunOnly.model_validate({"run": {**self.run.model_dump(), **changes}})
        except ValidationError as exc:
            raise ConfigError(source, problems_from_validation(exc, RunOnly)) from None
        return self.model_copy(update={"run": only.run})

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
    data: dict[str, Any],
    model: type[ConfigT] = RecipeConfig,  # type: ignore[assignment]
    source: str = "<config>",
    machine_checks: bool = True,
) -> ConfigT:
    """Validate an in-memory config; raises ConfigError listing every problem. `machine_checks=False`
    leaves out what depends on this machine (model directory, CUDA)."""
    try:
        return model.model_validate(data, context={MACHINE_CHECKS: machine_checks})
    except ValidationError as exc:
        raise ConfigError(source, problems_from_validation(exc, model)) from None


def load_config(
    path: str | Path,
    model: type[ConfigT] = RecipeConfig,  # type: ignore[assignment]
    machine_checks: bool = True,
) -> ConfigT:
    """Read a YAML config; raises ConfigError naming the file, line and key path of every problem.

    Every key-level problem of every section is reported together; checks that relate sections to
    each other (e.g. max_length against the model's positions) run once the sections themselves are valid.
    """
    config_path = Path(path)
    data, lines, duplicates = read_yaml_mapping(config_path)
    problems: list[ConfigProblem] = list(duplicates)
    try:
        config = model.model_validate(data, context={MACHINE_CHECKS: machine_checks})
    except ValidationError as exc:
        problems += problems_from_validation(exc, model, lines)
        config = None
    if problems or config is None:
        problems.sort(key=lambda problem: problem.line if problem.line is not None else 0)
        raise ConfigError(str(config_path), problems)
    return config
