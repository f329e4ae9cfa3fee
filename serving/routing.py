"""The router's pure parts: request limits and the expert table from promoted.json (routing: route_rules)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from serving.route_rules import COORDINATOR

TRACKS: tuple[str, ...] = ("ascii", "runic", "general")
METHODS: tuple[str, ...] = ("lora", "qlora", "full")
Strategy = Literal["mixed", "group"]


# ------------------------------------------------------------------------------------ the expert table


class RouterError(Exception):
    """The router cannot start or reload: a missing promotion, adapter directory or base; says what to do."""


class RequestError(ValueError):
    """A request the router refuses; `status` is the HTTP status and `field` the request field at fault."""

    status = 422

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[RequestError], tuple[str, str]]:
        # Ray pickles a remote method's exception to the caller; keep `field` through that trip.
        return type(self), (str(self), self.field)


class PromptTooLong(RequestError):
    """The prompt is longer than the router accepts (HTTP 413)."""

    status = 413


class UnknownExpert(RequestError):
    """The request names an expert or specialist the router does not serve (HTTP 404)."""

    status = 404


class PromotionError(ValueError):
    """promoted.json does not describe a servable set of experts; the message names the key."""


# ------------------------------------------------------------------------------------ request limits


@dataclass(frozen=True)
class RouterSettings:
    """Serving limits and batching. `strategy`: `mixed` runs one generate call per batch with peft's
    per-row adapter_names; `group` runs one call per expert (bench/router.py measures both; mixed won).
    `constrained_decoding`: answers in a value format are decoded under their format's grammar."""

    default_max_new_tokens: int = 128
    max_new_tokens_limit: int = 512
    max_prompt_chars: int = 8000
    batch_max_size: int = 32
    batch_wait_ms: float = 5.0
    strategy: Strategy = "mixed"
    dtype: str = "auto"
    device: str | None = None
    torch_threads: int | None = None  # None keeps torch's default; 1 is fastest on a busy shared CPU
    constrained_decoding: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.default_max_new_tokens <= self.max_new_tokens_limit:
            raise ValueError(
                f"default_max_new_tokens={self.default_max_new_tokens} must lie in "
                f"1..max_new_tokens_limit={self.max_new_tokens_limit}"
            )
        if self.strategy not in ("mixed", "group"):
            raise ValueError(f"strategy={self.strategy!r} must be 'mixed' or 'group'")
        if self.batch_max_size < 1 or self.batch_wait_ms < 0 or self.max_prompt_chars < 1:
            raise ValueError("batch_max_size and max_prompt_chars must be >= 1 and batch_wait_ms >= 0")


def check_request(settings: RouterSettings, prompt: Any, max_new_tokens: Any) -> int:
    """The max_new_tokens to use; raises RequestError (413 for an overlong prompt, else 422)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError("prompt must be a non-empty string", field="prompt")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate (JSON "\ud800"): no tokenizer can encode it
        raise RequestError(
            f"prompt holds a lone surrogate U+{ord(prompt[err.start]):04X} at character {err.start}, "
            "which is not valid Unicode; send the character itself or a complete surrogate pair",
            field="prompt",
        ) from None
    if len(prompt) > settings.max_prompt_chars:
        raise PromptTooLong(
            f"prompt is {len(prompt)} characters; this router accepts at most "
            f"{settings.max_prompt_chars} (RouterSettings.max_prompt_chars)",
            field="prompt",
        )
    if max_new_tokens is None:
        return settings.default_max_new_tokens
    limit = settings.max_new_tokens_limit
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or not 1 <= max_new_tokens <= limit
    ):
        raise RequestError(
            f"max_new_tokens={max_new_tokens!r} must be an integer in 1..{limit}", field="max_new_tokens"
        )
    return max_new_tokens


@dataclass(frozen=True)
class ExpertSpec:
    """One servable expert from promoted.json: a specialist's weights, or the coordinator (the base)."""

    name: str
    track: str
    path: Path
    checkpoint: str | None
    method: str
    exact_match: float | None

    @property
    def is_adapter(self) -> bool:
        return self.method in ("lora", "qlora")


@dataclass(frozen=True)
class ExpertTable:
    """The coordinator, every promoted specialist, and which specialist serves each track."""

    coordinator: ExpertSpec
    specialists: dict[str, ExpertSpec]
    by_track: dict[str, str]

    def serving(self, track: str) -> tuple[str, str | None]:
        """(expert name, note): the specialist serving `track`, or the coordinator with a note saying why."""
        if track == "general":
            return COORDINATOR, None
        name = self.by_track.get(track)
        if name is None:
            return COORDINATOR, f"no {track} specialist was promoted, so the coordinator serves this track"
        return name, None


def _spec_field(entry: dict[str, Any], key: str, where: str, kinds: type | tuple[type, ...]) -> Any:
    if key not in entry:
        raise PromotionError(f"{where}: missing key {key!r}")
    value = entry[key]
    if not isinstance(value, kinds):
        raise PromotionError(f"{where}.{key}: expected {kinds}, got {value!r}")
    return value


def expert_table(promoted: dict[str, Any], source: str = "promoted.json") -> ExpertTable:
    """Read the promotion list into an ExpertTable; raises PromotionError naming `source` and the key.

    When two specialists share a track, the one with the higher exact match serves it (ties: by name).
    """
    coordinator_entry = promoted.get("coordinator")
    if not isinstance(coordinator_entry, dict):
        raise PromotionError(f"{source}: key 'coordinator' must be an object with the base model's 'path'")
    coordinator = ExpertSpec(
        name=COORDINATOR,
        track="general",
        path=Path(_spec_field(coordinator_entry, "path", f"{source}: coordinator", str)),
        checkpoint=None,
        method="base",
        exact_match=None,
    )
    entries = promoted.get("specialists", {})
    if not isinstance(entries, dict):
        raise PromotionError(f"{source}: key 'specialists' must be an object of name -> promotion")
    specialists: dict[str, ExpertSpec] = {}
    for name, entry in sorted(entries.items()):
        where = f"{source}: specialists.{name}"
        if name == COORDINATOR:
            raise PromotionError(f"{where}: {COORDINATOR!r} is reserved for the base model; rename it")
        if not isinstance(entry, dict):
            raise PromotionError(f"{where}: expected an object, got {entry!r}")
        track = _spec_field(entry, "track", where, str)
        if track not in TRACKS:
            raise PromotionError(f"{where}.track: {track!r} is not one of {', '.join(TRACKS)}")
        method = entry.get("method", "lora")
        if method not in METHODS:
            raise PromotionError(f"{where}.method: {method!r} is not one of {', '.join(METHODS)}")
        score = entry.get("exact_match")
        specialists[name] = ExpertSpec(
            name=name,
            track=track,
            path=Path(_spec_field(entry, "path", where, str)),
            checkpoint=entry.get("checkpoint"),
            method=method,
            exact_match=float(score) if isinstance(score, int | float) else None,
        )
    return ExpertTable(
        coordinator=coordinator, specialists=specialists, by_track=tracks_served(specialists.values())
    )


def tracks_served(specialists: Iterable[ExpertSpec]) -> dict[str, str]:
    """Track -> the specialist that serves it: the best exact match among that track's specialists (ties:
    by name). `general` is never in it: the coordinator serves it."""
    by_track: dict[str, str] = {}
    for spec in sorted(
        specialists, key=lambda s: (-(s.exact_match if s.exact_match is not None else -1.0), s.name)
    ):
        if spec.track != "general":
            by_track.setdefault(spec.track, spec.name)
    return by_track


def weights_problem(spec: ExpertSpec) -> str | None:
    """Why the weights directory of `spec` cannot be served (naming the path and what to do), or None."""
    marker = "adapter_config.json" if spec.is_adapter else "config.json"
    what = "adapter" if spec.is_adapter else ("base model" if spec.name == COORDINATOR else "model")
    if (spec.path / marker).is_file():
        return None
    state = "does not exist" if not spec.path.exists() else f"has no {marker}"
    return (
        f"{spec.path}: the {what} directory of {spec.name!r} {state}; it was moved or deleted after "
        f"promotion. Restore it, or rerun `overnight run` with the same --run-name to re-promote."
    )
