"""The checks before a run starts: every missing corpus at once, and typos reported with them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from settings.errors import ConfigError
from settings.recipe import config_from_dict
from settings.run import RunConfig
from tests.actors.run_configs import merged, tiny_run_data, write_run_config
from training.preflight import check_before_start, corpora_of, problems_beyond_unknown_keys


def test_a_tiny_run_on_the_fixture_corpus_may_start(tmp_path: Path) -> None:
    config = config_from_dict(tiny_run_data(tmp_path / "out"), RunConfig)
    assert [path.name for path in corpora_of(config)] == ["tiny_corpus"]  # read once, named by many
    assert check_before_start(config).problems == []


def test_every_missing_corpus_is_a_problem_at_once(tmp_path: Path) -> None:
    data = merged(
        tiny_run_data(tmp_path / "out"),
        {"specialists": {"ascii": {"corpus": "gone_a"}, "runic": {"corpus": "gone_r"}}},
    )
    problems = check_before_start(config_from_dict(data, RunConfig)).problems
    text = "\n".join(problems)
    assert "corpus 'gone_a' has no" in text and "corpus 'gone_r' has no" in text


def test_a_corpus_with_a_broken_line_blocks_the_start(tmp_path: Path) -> None:
    data = tiny_run_data(tmp_path / "out")
    corpora = tmp_path / "corpora"
    shutil.copytree(data["run"]["corpora_dir"], corpora)
    train = corpora / data["foundation"]["corpus"] / "train.jsonl"
    train.write_text(train.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    data["run"]["corpora_dir"] = str(corpora)
    problems = check_before_start(config_from_dict(data, RunConfig)).problems
    assert any(str(train) in problem for problem in problems), problems


def test_a_typo_is_reported_with_the_missing_corpus_it_hides(tmp_path: Path) -> None:
    data = merged(
        tiny_run_data(tmp_path / "out"),
        {"training": {"learning_rte": 1e-3}, "specialists": {"runic": {"corpus": "no_such_corpus"}}},
    )
    path = write_run_config(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, RunConfig, source=str(path))
    beyond = problems_beyond_unknown_keys(str(path), caught.value)
    assert any("corpus 'no_such_corpus' has no" in problem for problem in beyond), beyond


def test_other_config_problems_hide_nothing_more(tmp_path: Path) -> None:
    data = merged(tiny_run_data(tmp_path / "out"), {"training": {"learning_rte": 1e-3, "learning_rate": -1}})
    path = write_run_config(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, RunConfig, source=str(path))
    assert problems_beyond_unknown_keys(str(path), caught.value) == []
