"""The report's coordinator line: a built base's figures from a hand-written manifest, or none."""

from __future__ import annotations

import json
from pathlib import Path

from report.coordinator import coordinator_line


def _manifest(directory: Path, grades: dict[str, object]) -> Path:
    directory.mkdir()
    (directory / "base.json").write_text(json.dumps({"grades": grades}), encoding="utf-8")
    return directory


def test_a_built_base_shows_its_general_figures(tmp_path: Path) -> None:
    base = _manifest(
        tmp_path / "base",
        {
            "free": {"phase1_general": {"n": 8, "exact_match": 0.5, "format_validity": 0.875}},
            "grammar": {"phase1_general": {"n": 8, "exact_match": 0.625, "format_validity": 1.0}},
        },
    )
    assert coordinator_line({"path": str(base), "kind": "base"}) == (
        f"Coordinator: `{base}` (base). When built, on the 8 examples of the phase1_general val split: "
        "exact match 50.0% free and 62.5% under the grammar; "
        "format validity 87.5% free and 100.0% under the grammar."
    )


def test_a_coordinator_without_a_manifest_is_named_only(tmp_path: Path) -> None:
    assert coordinator_line({"path": "builtin:tiny", "kind": "base"}) == "Coordinator: `builtin:tiny` (base)."
    foundation = tmp_path / "model"
    foundation.mkdir()
    assert coordinator_line({"path": str(foundation), "kind": "foundation"}) == (
        f"Coordinator: `{foundation}` (foundation)."
    )


def test_a_manifest_without_figures_says_so(tmp_path: Path) -> None:
    base = _manifest(tmp_path / "base", {"free": {"phase1_general": {"n": 8}}})
    assert coordinator_line({"path": str(base), "kind": "base"}) == (
        f"Coordinator: `{base}` (base). Its base.json has no readable figures (KeyError: 'grammar')."
    )
