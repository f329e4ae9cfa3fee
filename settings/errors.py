"""Turns YAML and pydantic failures into one ConfigError that lists every problem with its key path."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

KeyPath = tuple[str | int, ...]
CROSS_FIELD_ERROR = "cross_field"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: where (key path, YAML line when known) and what to do."""

    path: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        key = f"{self.path}: " if self.path else ""
        return f"{where}: {key}{self.message}"


class ConfigError(ValueError):
    """A config that cannot be used; `problems` holds every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{source}: {count} config problem{'s' if count != 1 else ''}"
        body = "\n".join(f"  - {problem.render(source)}" for problem in self.problems)
        super().__init__(f"{header}\n{body}")


def format_key_path(loc: Sequence[str | int]) -> str:
    """('specialists', 'ascii', 'phases', 1, 'epochs') -> 'specialists.ascii.phases[1].epochs'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def yaml_line_map(text: str) -> tuple[dict[KeyPath, int], list[ConfigProblem]]:
    """Map each key path of a YAML document to its 1-based line; also report duplicate keys,
    which PyYAML would otherwise resolve silently by keeping the last one."""
    root = yaml.compose(text)
    lines: dict[KeyPath, int] = {}
    duplicates: list[ConfigProblem] = []

    def walk(node: yaml.Node, path: KeyPath) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                key_line = key_node.start_mark.line + 1
                if key in seen:
                    duplicates.append(
                        ConfigProblem(
                            format_key_path((*path, key)),
                            f"duplicate key (first given on line {seen[key]}); keep only one",
                            key_line,
                        )
                    )
                seen[key] = key_line
                walk(value_node, (*path, key))
                lines[(*path, key)] = key_line
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    if root is not None:
        walk(root, ())
    return lines, duplicates


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model class that owns the key at `loc` (walking dicts and lists), if any."""
    current: Any = root
    for part in loc:
        current = _unwrap_optional(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif origin in (list, tuple) and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif origin is dict and isinstance(part, str):
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def unknown_key_message(root: type[BaseModel], loc: Sequence[str | int]) -> str:
    """'unknown key 'learning_rte' in training — did you mean 'learning_rate'?'"""
    key = str(loc[-1])
    parent = format_key_path(loc[:-1]) or "the top level"
    owner = model_at(root, loc[:-1])
    valid = sorted(owner.model_fields) if owner is not None else []
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' in {parent} — did you mean '{close[0]}'?"
    listing = ", ".join(valid) if valid else "(none)"
    return f"unknown key '{key}' in {parent}; valid keys: {listing}"


def _describe_error(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    given = error.get("input")
    bounds = {
        "greater_than": ("must be >", "gt"),
        "greater_than_equal": ("must be >=", "ge"),
        "less_than": ("must be <", "lt"),
        "less_than_equal": ("must be <=", "le"),
    }
    if kind in bounds:
        text, key = bounds[kind]
        return f"{text} {ctx[key]}, got {given!r}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {given!r}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s), got {ctx['actual_length']}"
    message = str(error["msg"])
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else message
    return f"{message}, got {given!r}"


def problems_from_validation(
    error: ValidationError,
    root: type[BaseModel],
    lines: dict[KeyPath, int] | None = None,
) -> list[ConfigProblem]:
    """One ConfigProblem per pydantic error, with cross-field problem lists expanded."""
    line_map = lines or {}
    problems: list[ConfigProblem] = []

    def line_for(loc: KeyPath) -> int | None:
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in line_map:
                return line_map[loc[:cut]]
        return None

    for item in error.errors():
        loc: KeyPath = tuple(item["loc"])
        if item["type"] == CROSS_FIELD_ERROR:
            for relative, message in item["ctx"]["problems"]:
                full = (*loc, *relative)
                problems.append(ConfigProblem(format_key_path(full), message, line_for(full)))
        elif item["type"] == "extra_forbidden":
            problems.append(
                ConfigProblem(format_key_path(loc), unknown_key_message(root, loc), line_for(loc))
            )
        else:
            problems.append(ConfigProblem(format_key_path(loc), _describe_error(item), line_for(loc)))
    return problems


def read_yaml_mapping(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int], list[ConfigProblem]]:
    """Parse a YAML config file; syntax errors and a non-mapping top level raise ConfigError."""
    source = str(path)
    if not path.is_file():
        raise ConfigError(
            source,
            [ConfigProblem("", "config file not found; pass an existing YAML file (e.g. configs/demo.yaml)")],
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        lines, duplicates = yaml_line_map(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigProblem("", f"invalid YAML: {reason}", line)]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            source,
            [ConfigProblem("", f"the top level must be a mapping of sections, got {type(data).__name__}", 1)],
        )
    return data, lines, duplicates
