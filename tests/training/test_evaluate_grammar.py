"""training.constrained_decoding: the evaluation decodes value-format answers under their grammar when on,
and generates freely when off (the default), through the training loop's own evaluations."""

from __future__ import annotations

from typing import Any

from hlx.formats import parse
from settings.training import TrainingSection
from training.recipe import train_specialist

from .conftest import Recorder

# Every val example of the fixture corpus is a conversion into HLXL, LC-T or LC-R, all graded.
GRADE_ALL = {"eval_subset": 12, "eval_batch_size": 6, "max_new_tokens": 12}


def _evaluations(make_config: Any, constrained: bool | None) -> list[Any]:
    training = dict(GRADE_ALL) if constrained is None else {**GRADE_ALL, "constrained_decoding": constrained}
    recorder = Recorder()
    train_specialist(make_config({"training": training}), "ascii", hooks=recorder, resume=False)
    evals = recorder.of_kind("epoch_eval")
    assert [e.start for e in evals] == [True, False, False] and {e.n_graded for e in evals} == {12}
    return evals


def test_on_every_graded_answer_parses_in_its_format(make_config) -> None:  # type: ignore[no-untyped-def]
    for evaluation in _evaluations(make_config, constrained=True):
        assert evaluation.format_validity == 1.0
        assert all(score.format_validity == 1.0 for score in evaluation.per_task.values())
        for sample in evaluation.samples:
            parse(sample.output, sample.format)  # the toolkit itself: raises when the answer does not parse
            assert sample.valid and sample.output.strip()


def test_off_by_default_the_answers_are_free_and_mostly_invalid(make_config) -> None:  # type: ignore[no-untyped-def]
    assert TrainingSection.model_fields["constrained_decoding"].default is False
    # A few seconds of training: free answers do not parse yet (what the grammar hides when on).
    evaluations = _evaluations(make_config, constrained=None)
    assert all(evaluation.format_validity is not None for evaluation in evaluations)
    assert min(evaluation.format_validity for evaluation in evaluations) < 0.5
