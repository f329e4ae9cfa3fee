"""The router's pure parts: routing by HLX_SPEC §7, request limits, the expert table from promoted.json."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

COORDINATOR = "coordinator"
TRACKS: tuple[str, ...] = ("ascii", "runic", "general")
METHODS: tuple[str, ...] = ("lora", "qlora", "full")
TASKS = frozenset({"convert", "parse", "validate", "transliterate", "explain", "diagnose", "format"})
Strategy = Literal["mixed", "group"]
TRACK_LABEL = {"ascii": "ASCII track", "runic": "runic track", "general": "coordinator's share"}

# Format names a request can use, longest first so `HLXL-LS` is never read as `HLXL`. LC-* names and the
# LS names carry a hyphen, so no identifier can collide with them and they match in any case; bare
# HLX/HLXL must be upper case, because `hlx` is a plausible handle or word inside a request.
_NAME_RE = re.compile(
    r"(?<![\w-])((?i:HLXL-LS)|(?i:HLX-LS)|HLXL(?i:\s+programs?)|HLX(?i:\s+programs?)|HLXL|HLX"
    r"|(?i:LC-T)|(?i:LC-R)|(?i:LC-B))(?![\w-])"
)
# A request's head: the words before the first ": " (`Convert to LC-R: {14: {@0: 42}}`). Only letters,
# digits, spaces, `_` and `-`, so the colon inside a payload value never ends a head.
_HEAD_RE = re.compile(r"^\s*([A-Za-z][\w \-]*?)\s*:(?=\s|$)")
_TARGET_RE = re.compile(r"\b(?:to|into|in)\s+$", re.IGNORECASE)
_RENAME_RE = re.compile(r"\bhandle\s+\w+\s+to\s+\w+", re.IGNORECASE)

# The glyphs only the runic track writes: LC-R value glyphs and HLX program keywords (HLX_SPEC §2, §3).
RUNIC_GLYPHS = frozenset("🐊🐁🐂🐃🐄◇◆⟁∅⊤⊥⟠⊢↩⌿⟳❓❗⚳⚯⚶⚿▷")

_NAME_TRACK = {
    "HLXL": "ascii",
    "LC-T": "ascii",
    "HLXL PROGRAM": "ascii",
    "HLXL-LS": "ascii",
    "HLX": "runic",
    "LC-R": "runic",
    "HLX PROGRAM": "runic",
    "HLX-LS": "runic",
    "LC-B": "general",
}
_VALUE_FORMAT = {
    "HLXL": "hlxl",
    "LC-T": "lc-t",
    "LC-R": "lc-r",
    "LC-B": "lc-b",
    "HLXL PROGRAM": "hlxl-program",
    "HLX PROGRAM": "hlx-program",
    "HLX": "hlx-program",
}
_PROGRAM_FORMAT = {"HLXL": "hlxl-program", "HLX": "hlx-program"}
_LS_OP_FORMAT = {"diagnose": "diagnostic", "hover": "text", "infer": "text"}
_LS_DEFAULT_FORMAT = {"ascii": "hlxl", "runic": "lc-r"}


@dataclass(frozen=True)
class Route:
    """Where a request goes: `expert` is `coordinator`, `ascii` or `runic` (the track's expert), `format`
    the answer format the checker validates (one of hlx.checker.CHECK_FORMATS), `reason` a sentence."""

    expert: str
    track: str
    format: str
    task: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {
            "expert": self.expert,
            "track": self.track,
            "format": self.format,
            "task": self.task,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Name:
    canonical: str
    text: str
    start: int


def _names(text: str) -> list[_Name]:
    found = []
    for match in _NAME_RE.finditer(text):
        canonical = " ".join(match.group(1).upper().split())
        if canonical.endswith("PROGRAMS"):
            canonical = canonical[:-1]
        found.append(_Name(canonical, match.group(1), match.start()))
    return found


def split_request(instruction: str) -> tuple[str | None, str]:
    """(head, payload): the head is the leading words before `: `, None when the request has no such head."""
    match = _HEAD_RE.match(instruction)
    if match is None:
        return None, instruction
    return match.group(1), instruction[match.end() :]


def _target(text: str, names: list[_Name]) -> _Name | None:
    """The name the request asks for: the one right after `to`/`into`/`in`, else the last one named."""
    for name in names:
        if _TARGET_RE.search(text[: name.start]):
            return name
    return names[-1] if names else None


def _route(track: str, fmt: str, task: str, reason: str) -> Route:
    expert = COORDINATOR if track == "general" else track
    return Route(expert=expert, track=track, format=fmt, task=task, reason=reason)


def _route_ls(head: str, ls: _Name) -> Route:
    track = _NAME_TRACK[ls.canonical]
    rest = head[ls.start + len(ls.text) :]
    words = rest.split()
    operation = words[0].lower() if words else ""
    scanned = _RENAME_RE.sub(" ", rest) if operation == "rename" else rest
    inner = [name for name in _names(scanned) if not name.canonical.endswith("-LS")]
    if operation in _LS_OP_FORMAT:
        fmt = _LS_OP_FORMAT[operation]
    elif inner:
        fmt = _VALUE_FORMAT[(_target(scanned, inner) or inner[-1]).canonical]
    else:
        fmt = _LS_DEFAULT_FORMAT[track]
    reason = f"names {ls.canonical}, the {TRACK_LABEL[track]}'s language server"
    return _route(track, fmt, operation or "ls", reason)


def _route_named(text: str, names: list[_Name], task: str) -> Route:
    """A request that names formats: the track of what it names decides (HLXL, the pivot every parse and
    convert goes through, only when nothing else is named); transliteration goes to its target's track."""
    target = _target(text, names)
    assert target is not None
    if task == "transliterate" and target.canonical in _PROGRAM_FORMAT:
        track = _NAME_TRACK[target.canonical]
        return _route(
            track,
            _PROGRAM_FORMAT[target.canonical],
            task,
            f"transliterates to {target.canonical} ({TRACK_LABEL[track]})",
        )
    deciding = [name for name in names if name.canonical != "HLXL"] or names
    tracks = list(dict.fromkeys(_NAME_TRACK[name.canonical] for name in deciding))
    if len(tracks) == 1:
        track = tracks[0]
        named = ", ".join(dict.fromkeys(name.canonical for name in deciding))
        reason = f"names {named} ({TRACK_LABEL[track]})"
    else:
        chosen = target if target in deciding else deciding[-1]
        track = _NAME_TRACK[chosen.canonical]
        reason = (
            f"names formats of several tracks; the requested format {chosen.canonical} decides "
            f"({TRACK_LABEL[track]})"
        )
    fmt = {"validate": "diagnostic", "diagnose": "diagnostic", "explain": "text"}.get(task)
    if fmt is None:
        fmt = _VALUE_FORMAT[target.canonical]
    return _route(track, fmt, task, reason)


def route(instruction: str) -> Route:
    """Route one request by HLX_SPEC §7: the format or track it names first, then runic glyphs in its
    payload, otherwise the coordinator. Total and deterministic: every string gets a route."""
    head, payload = split_request(instruction)
    scanned = head if head is not None else instruction
    first_word = scanned.split()[0].lower() if scanned.split() else ""
    task = first_word if first_word in TASKS else "unknown"
    names = _names(scanned)
    ls = next((name for name in names if name.canonical.endswith("-LS")), None)
    if ls is not None:
        return _route_ls(scanned, ls)
    if names:
        return _route_named(scanned, names, task)
    if task == "explain":
        return _route("general", "text", task, "explains a contract, which is the coordinator's job")
    glyph = next((char for char in payload if char in RUNIC_GLYPHS), None)
    if glyph is not None:
        fmt = "hlx-program" if glyph in "⟠⊢↩⌿⟳❓❗⚳⚯⚶⚿▷" else "lc-r"
        return _route(
            "runic",
            fmt,
            task,
            f"names no format; the payload holds the runic glyph {glyph!r} (U+{ord(glyph):04X})",
        )
    return _route("general", "text", task, "names no format or track and holds no runic glyph")


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
    per-row adapter_names; `group` runs one call per expert (bench/router.py measures both; mixed won)."""

    default_max_new_tokens: int = 128
    max_new_tokens_limit: int = 512
    max_prompt_chars: int = 8000
    batch_max_size: int = 32
    batch_wait_ms: float = 5.0
    strategy: Strategy = "mixed"
    dtype: str = "auto"
    device: str | None = None
    torch_threads: int | None = None  # None keeps torch's default; 1 is fastest on a busy shared CPU

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
