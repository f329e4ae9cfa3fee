"""Routing one request to an expert by the words it uses: HLX_SPEC §7, as written in README "Who answers"."""

from __future__ import annotations

import re
from dataclasses import dataclass

COORDINATOR = "coordinator"
TASKS = frozenset({"convert", "parse", "validate", "transliterate", "explain", "diagnose", "format"})
TRACK_LABEL = {"ascii": "ASCII track", "runic": "runic track", "general": "coordinator's share"}

# Format and track names a request can use, longest first so `HLXL-LS` is never read as `HLXL`. LC-* names,
# the LS names and the track words `ASCII`/`runic` match in any case; bare HLX/HLXL must be upper case,
# because `hlx` is a plausible handle or word inside a request. A name glued to a handle sigil (`@ascii`,
# `&runic`, `⟁runic`) or to a hyphenated word (`ASCII-safe`, `non-ASCII`) is not a name.
_NAME_RE = re.compile(
    r"(?<![\w@&⟁-])((?i:HLXL-LS)|(?i:HLX-LS)|HLXL(?i:\s+programs?)|HLX(?i:\s+programs?)|HLXL|HLX"
    r"|(?i:LC-T)|(?i:LC-R)|(?i:LC-B)|(?i:ASCII)|(?i:runic))(?![\w-])"
)
# A request's head: the words before the first ": " (`Convert to LC-R: {14: {@0: 42}}`). Only letters,
# digits, spaces, `_` and `-`, so the colon inside a payload value never ends a head.
_HEAD_RE = re.compile(r"^\s*([A-Za-z][\w \-]*?)\s*:(?=\s|$)")
_TARGET_RE = re.compile(r"\b(?:to|into|in)\s+$", re.IGNORECASE)
_RENAME_RE = re.compile(r"\bhandle\s+\w+\s+to\s+\w+", re.IGNORECASE)
# Bare `HLX` names the runic program language only as a target (`to HLX`), a source (`HLX to HLXL`) or the
# last word (`Validate HLX: ...`); elsewhere (`HLX formats`, `the HLX contract`, `What is HLX?`) it is the
# whole family, which names no track.
_HLX_TARGET_RE = re.compile(r"\b(?:to|into|in|as)\s+$", re.IGNORECASE)
_HLX_SOURCE_OR_END_RE = re.compile(r"\s*$|\s+(?:to|into)\b", re.IGNORECASE)
# Asking for every format at once (`Convert 42 to all HLX formats`) is the coordinator's job.
_EVERY_FORMAT_RE = re.compile(
    r"\b(?:all|every|each)\s+(?:of\s+)?(?:the\s+)?(?:HLX\s+|four\s+)?formats?\b", re.IGNORECASE
)
# What may follow a target named at the very end of a payload (`...: [&h_a, &h_b] to LC-R.`).
_TRAILING_TAIL_RE = re.compile(r"(?:\s+(?:format|track))?\s*[.?!]?\s*", re.IGNORECASE)
_PROGRAM_RE = re.compile(r"\s*(?:program\s+[A-Za-z_]\w*|⟠)")

# The glyphs only the runic track writes: LC-R value glyphs and HLX program keywords (HLX_SPEC §2, §3).
RUNIC_GLYPHS = frozenset("🐊🐁🐂🐃🐄◇◆⟁∅⊤⊥⟠⊢↩⌿⟳❓❗⚳⚯⚶⚿▷")
_PROGRAM_GLYPHS = frozenset("⟠⊢↩⌿⟳❓❗⚳⚯⚶⚿▷")

_NAME_TRACK = {
    "HLXL": "ascii",
    "LC-T": "ascii",
    "HLXL PROGRAM": "ascii",
    "HLXL-LS": "ascii",
    "ASCII": "ascii",
    "HLX": "runic",
    "LC-R": "runic",
    "HLX PROGRAM": "runic",
    "HLX-LS": "runic",
    "RUNIC": "runic",
    "LC-B": "general",
}
# A track word asks for its track's first value format (HLX_SPEC §2: HLXL is the ASCII one, LC-R the runic).
_VALUE_FORMAT = {
    "HLXL": "hlxl",
    "LC-T": "lc-t",
    "LC-R": "lc-r",
    "LC-B": "lc-b",
    "HLXL PROGRAM": "hlxl-program",
    "HLX PROGRAM": "hlx-program",
    "HLX": "hlx-program",
    "ASCII": "hlxl",
    "RUNIC": "lc-r",
}
# The program format a target stands for when the payload is a program or the task is transliteration.
_PROGRAM_FORMAT = {
    "HLXL": "hlxl-program",
    "HLX": "hlx-program",
    "ASCII": "hlxl-program",
    "RUNIC": "hlx-program",
}
_TASK_FORMAT = {"validate": "diagnostic", "diagnose": "diagnostic", "explain": "text"}
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
    family: bool = False  # a bare `HLX` that means the whole family, not the runic track


def _means_family(text: str, start: int, end: int) -> bool:
    before, after = text[:start], text[end:]
    return not (_HLX_TARGET_RE.search(before) or _HLX_SOURCE_OR_END_RE.match(after))


def _all_names(text: str) -> list[_Name]:
    found = []
    for match in _NAME_RE.finditer(text):
        canonical = " ".join(match.group(1).upper().split())
        if canonical.endswith("PROGRAMS"):
            canonical = canonical[:-1]
        family = canonical == "HLX" and _means_family(text, match.start(), match.end())
        found.append(_Name(canonical, match.group(1), match.start(), family))
    return found


def _names(text: str) -> list[_Name]:
    """The format and track names in `text`, in order; `HLX` meaning the whole family is not one."""
    return [name for name in _all_names(text) if not name.family]


def split_request(instruction: str) -> tuple[str | None, str]:
    """(head, payload): the head is the leading words before `: `, None when the request has no such head."""
    match = _HEAD_RE.match(instruction)
    if match is None:
        return None, instruction
    return match.group(1), instruction[match.end() :]


def _trailing_target(payload: str) -> str | None:
    """The `to LC-R` clause that ends a payload (`Convert multiple handles: [&h_a] to LC-R`), or None."""
    names = _names(payload)
    if not names:
        return None
    last = names[-1]
    to = _TARGET_RE.search(payload[: last.start])
    if to is None or not _TRAILING_TAIL_RE.fullmatch(payload[last.start + len(last.text) :]):
        return None
    return payload[to.start() : last.start + len(last.text)]


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


def _route_named(text: str, names: list[_Name], task: str, payload: str) -> Route:
    """A request that names formats: the track of what it names decides (HLXL, the pivot every parse and
    convert goes through, only when nothing else is named); transliteration goes to its target's track."""
    target = _target(text, names)
    assert target is not None
    is_program = _PROGRAM_RE.match(payload) is not None
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
    fmt = _TASK_FORMAT.get(task)
    if fmt is None and is_program and target.canonical in _PROGRAM_FORMAT:
        fmt = _PROGRAM_FORMAT[target.canonical]
    return _route(track, fmt or _VALUE_FORMAT[target.canonical], task, reason)


def _route_unnamed(payload: str, task: str, family: bool) -> Route:
    """A request that names no format or track: explaining is the coordinator's, runic glyphs the runic
    track's, anything else the coordinator's."""
    if task == "explain":
        return _route("general", "text", task, "explains a contract, which is the coordinator's job")
    glyph = next((char for char in payload if char in RUNIC_GLYPHS), None)
    if glyph is not None:
        fmt = _TASK_FORMAT.get(task) or ("hlx-program" if glyph in _PROGRAM_GLYPHS else "lc-r")
        return _route(
            "runic",
            fmt,
            task,
            f"names no format; the payload holds the runic glyph {glyph!r} (U+{ord(glyph):04X})",
        )
    reason = "names no format or track and holds no runic glyph"
    if family:
        reason = "names HLX as the whole family, not one track, and holds no runic glyph"
    return _route("general", _TASK_FORMAT.get(task, "text"), task, reason)


def route(instruction: str) -> Route:
    """Route one request by HLX_SPEC §7 (the rules, in order, are in README "Who answers"): a language
    server it names, a request for every format, the formats or tracks it names (in its head, or as the
    target ending its payload), runic glyphs in its payload, otherwise the coordinator. Total and
    deterministic: every string gets a route."""
    head, payload = split_request(instruction)
    scanned = head if head is not None else instruction
    first_word = scanned.split()[0].lower() if scanned.split() else ""
    task = first_word if first_word in TASKS else "unknown"
    found = _all_names(scanned)
    ls = next((name for name in found if name.canonical.endswith("-LS")), None)
    if ls is not None:
        return _route_ls(scanned, ls)
    if _EVERY_FORMAT_RE.search(scanned):
        return _route("general", "text", task, "asks for every HLX format at once: the coordinator's job")
    if head is not None:
        clause = _trailing_target(payload)
        if clause is not None:
            scanned = f"{head} {clause}"
            found = _all_names(scanned)
    names = [name for name in found if not name.family]
    if names:
        return _route_named(scanned, names, task, payload)
    return _route_unnamed(payload, task, family=any(name.family for name in found))
