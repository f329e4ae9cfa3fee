"""The quality bench's arms: what each grades, with which weights and decoding, after which night (pure)."""

from __future__ import annotations

from dataclasses import dataclass

SPLITS: dict[str, str] = {
    "general": "phase1_general",
    "ascii": "ascii_specialist",
    "runic": "runic_specialist",
}
"""Track -> the corpus whose whole val split that track is graded on."""
NIGHTS = ("demo", "scratch")
"""The nights an arm can need: the demo (--config) and the old from-scratch demo (--scratch-config)."""


@dataclass(frozen=True)
class Arm:
    """One way of answering every val split."""

    name: str
    title: str
    night: str | None
    """Which night's served weights answer (NIGHTS), or None: the demo config's base answers everything."""
    constrained: bool
    """Answers in a value format decoded under the format's grammar."""


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("base", "base only (the demo's base on every split, no night)", None, False),
        Arm("specialist", "specialist (the demo night's served experts)", "demo", False),
        Arm("grammar", "specialist with grammar (the same weights, value formats under their grammar)",
            "demo", True),
        Arm("scratch", "old from-scratch demo (its specialists, its foundation as coordinator)",
            "scratch", False),
    )
}  # fmt: skip


def parse_arms(text: str) -> list[Arm]:
    """The arms named in a comma-separated list, in the bench's own order; ValueError naming the unknown."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) {', '.join(unknown)}; the arms are {', '.join(ARMS)}")
    if not names:
        raise ValueError(f"no arm named; the arms are {', '.join(ARMS)}")
    return [arm for name, arm in ARMS.items() if name in names]


def nights_needed(arms: list[Arm]) -> list[str]:
    """The nights the arms need, each once (the specialist and grammar arms share the demo night)."""
    return [night for night in NIGHTS if any(arm.night == night for arm in arms)]
