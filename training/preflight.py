"""What must hold before a run starts: its base model and every corpus it reads, all problems at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Preflight:
    """The problems that stop a run before any actor starts, and how many corpus warnings do not."""

    problems: list[str]
    corpus_warnings: int


def corpora_of(config: Any) -> list[Path]:
    """Every corpus directory the run will read."""
    from settings.recipe import BUILTIN_TINY

    names: list[str] = []
    if config.model.base_model == BUILTIN_TINY:
        names += [config.foundation.corpus, *config.model.tiny.tokenizer_corpora]
    for specialist in config.specialists.values():
        names += [phase.corpus or specialist.corpus for phase in specialist.phases]
    return [config.corpus_dir(name) for name in dict.fromkeys(names)]


def check_before_start(config: Any) -> Preflight:
    """Problems that must stop the run before any actor starts (base model, corpora: every one at once),
    and the count of corpus warnings that do not."""
    from hlx.corpus_validate import WARNING_KINDS, validate_paths
    from settings.errors import ConfigError
    from settings.recipe import FOUNDATION
    from training.recipe import check_inputs

    problems: list[str] = []
    warnings = 0
    try:
        check_inputs(config, [FOUNDATION, *config.specialists])
    except ConfigError as err:
        problems.append(str(err))
    existing = [path for path in corpora_of(config) if path.is_dir()]
    if existing:
        report = validate_paths([str(path) for path in existing], check_references=False)
        blocking = report.blocking
        warnings = sum(1 for problem in report.problems if problem.kind in WARNING_KINDS)
        problems += [str(problem) for problem in blocking[:20]]
        if len(blocking) > 20:
            problems.append(
                f"... and {len(blocking) - 20} more corpus problems (see `overnight corpus validate`)"
            )
    return Preflight(problems, warnings)


def problems_beyond_unknown_keys(config_path: str, error: Any) -> list[str]:
    """With the unknown keys set aside, the problems the pre-start checks would find too (a missing corpus
    or base model), so one attempt reports everything; empty when the config has other problems as well."""
    import yaml

    from settings.errors import ConfigError
    from settings.recipe import config_from_dict
    from settings.run import RunConfig

    if not all(problem.message.startswith("unknown key") for problem in error.problems):
        return []
    data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    for problem in error.problems:
        *parents, leaf = problem.path.replace("[", ".").replace("]", "").split(".")
        node = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.get(part, {})
        if isinstance(node, dict):
            node.pop(leaf, None)
    try:
        config = config_from_dict(data, RunConfig, source=config_path)
    except ConfigError as again:
        return [problem.render(config_path) for problem in again.problems]
    return check_before_start(config).problems
