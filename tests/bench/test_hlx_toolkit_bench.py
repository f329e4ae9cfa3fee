"""Smoke test of bench/hlx_toolkit.py at a tiny size: it runs, writes its JSON and prints the same JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.hlx_toolkit import json_form, main
from hlx.values import Contract, Handle, Record


def test_tiny_run_writes_and_prints_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "hlx_toolkit.json"
    assert main(["--n", "40", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    figures = result["generate_and_check"]
    assert figures["examples"] >= 40 and figures["invalid_references"] == 0
    assert figures["seconds"] > 0 and figures["examples_per_s"] > 0
    ratio = result["lcb_vs_json"]
    assert ratio["values"] == 40 and ratio["lcb_over_json_ratio"] > 0


def test_json_form_maps_every_kind() -> None:
    value = [b"\x01", Contract(7, ((0, Handle("h")),)), Record((("a", None),)), 1.5, "t", True]
    assert json_form(value) == [
        {"bytes": "01"}, {"contract": 7, "fields": [[0, {"handle": "h"}]]}, {"a": None}, 1.5, "t", True,
    ]


def test_bad_n_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--n", "0"])
    assert exit_info.value.code == 2
    assert "--n must be at least 1, got 0" in capsys.readouterr().err
