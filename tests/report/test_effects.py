"""The report's intervention effects (metric before and after, with intervals), and the night against plan."""

from __future__ import annotations

from typing import Any

from report.effects import effect_rows, metric_text, plan_rows
from report.morning import SpecialistData


def evaluation(time: float, epoch: int, exact: float, n: int | None = 96) -> dict[str, Any]:
    return {"type": "epoch", "time": time, "phase": "main", "epoch": epoch, "step": 10 * epoch,
            "val_loss": 2.0, "exact_match": exact, "format_validity": 0.5, "n_graded": n}


def decision(time: str, action: str, epoch: int = 1, before: int | None = None,
             after: int | None = None) -> dict[str, Any]:
    params = {"peak_lr": 1e-3, "micro_batch": 8, "grad_accum": 1}
    return {"time": time, "specialist": "ascii", "phase": "main", "epoch": epoch, "action": action,
            "params_before": {**params, "epochs": before}, "params_after": {**params, "epochs": after}}


T100 = "1970-01-01T00:01:40Z"  # unix time 100


def spec(epochs: list[dict[str, Any]], decisions: list[dict[str, Any]]) -> SpecialistData:
    return SpecialistData(name="ascii", state={"state": "finished"}, epochs=epochs, decisions=decisions)


def test_metric_text_shows_the_wilson_interval_on_n() -> None:
    # 24 of 96 at z 1.96: Wilson [17.4%, 34.5%].
    expected = "exact match 25.0% [17.4%, 34.5%] (n=96), val loss 2 (epoch 4)"
    assert metric_text(evaluation(1.0, 3, 0.25)) == expected
    assert metric_text(evaluation(1.0, 3, 0.25, n=None)) == "exact match 25.0%, val loss 2 (epoch 4)"
    assert metric_text(None) == "no evaluation"


def test_an_intervention_is_shown_against_the_evaluations_around_it() -> None:
    epochs = [evaluation(90.0, 1, 0.10), evaluation(110.0, 3, 0.40), evaluation(120.0, 5, 0.41)]
    (row,) = effect_rows([spec(epochs, [decision(T100, "halve_lr"), decision(T100, "continue")])])
    assert row[:3] == ["ascii", "main/2", "halve_lr"]
    assert row[3].startswith("exact match 10.0% [") and row[3].endswith("(epoch 2)")
    assert row[4].startswith("exact match 40.0% [") and row[4].endswith("(epoch 4)")
    assert row[5] == "+30.0 points, better beyond both intervals"


def test_a_change_inside_the_intervals_is_called_noise_and_a_drop_beyond_them_worse() -> None:
    rollback = [decision(T100, "rollback")]
    within = effect_rows([spec([evaluation(90.0, 1, 0.24), evaluation(110.0, 3, 0.26)], rollback)])
    worse = effect_rows([spec([evaluation(90.0, 1, 0.60), evaluation(110.0, 3, 0.20)], rollback)])
    assert within[0][5] == "+2.0 points, within the noise"
    assert worse[0][5] == "-40.0 points, worse beyond both intervals"


def test_an_intervention_after_the_last_evaluation_says_so() -> None:
    stop = decision(T100, "stop_early", before=6, after=2)
    (row,) = effect_rows([spec([evaluation(90.0, 1, 0.2)], [stop])])
    assert row[4:] == ["no evaluation", "the phase ended before the next evaluation"]


def test_the_plan_shows_epochs_trained_plan_changes_and_interventions() -> None:
    epochs = [evaluation(90.0, 1, 0.2), evaluation(130.0, 7, 0.3)]
    decisions = [decision(T100, "extend_phase", before=6, after=8), decision(T100, "halve_lr"),
                 decision(T100, "select_best")]
    assert plan_rows([spec(epochs, decisions)]) == [
        ["ascii", "main", "8 epoch(s) evaluated", "extend_phase 6 -> 8 epochs", "halve_lr", "finished"]]
    assert plan_rows([spec([], [])]) == [["ascii", "no data", "no evaluation yet", "", "", "finished"]]


def start_evaluation(time: float, exact: float) -> dict[str, Any]:
    """The phase's starting weights, evaluated before its first step: epoch 0, step 0, `"start": true`."""
    return {**evaluation(time, 0, exact), "start": True}


def test_the_start_evaluation_is_shown_as_the_start_and_trained_epochs_count_from_one() -> None:
    # A NaN at step 3 of the first epoch: before it only the start was evaluated; after it, the first epoch.
    # Wilson at z 1.96 on n=96: 10% -> [5.5%, 17.6%], 40% -> [30.8%, 50.0%].
    epochs = [start_evaluation(90.0, 0.10), evaluation(110.0, 0, 0.40), evaluation(120.0, 1, 0.41)]
    (row,) = effect_rows([spec(epochs, [decision(T100, "rollback", epoch=0)])])
    assert row[:3] == ["ascii", "main/1", "rollback"]
    assert row[3] == "exact match 10.0% [5.5%, 17.6%] (n=96), val loss 2 (start)"
    assert row[4] == "exact match 40.0% [30.8%, 50.0%] (n=96), val loss 2 (epoch 1)"
    assert metric_text(start_evaluation(90.0, 0.5)).endswith("val loss 2 (start)")


def test_the_plan_does_not_count_the_start_evaluation_as_a_trained_epoch() -> None:
    only_start = plan_rows([spec([start_evaluation(90.0, 0.1)], [])])
    assert only_start == [["ascii", "main", "0 epoch(s) evaluated", "as planned", "none", "finished"]]
    one_epoch = plan_rows([spec([start_evaluation(90.0, 0.1), evaluation(110.0, 0, 0.4)], [])])
    assert one_epoch[0][2] == "1 epoch(s) evaluated"
