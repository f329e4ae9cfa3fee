"""The decision book: once per event key, logged before acting, outcome after, reread on restart."""

from __future__ import annotations

from pathlib import Path

from control.decision_book import NOT_APPLIED, DecisionBook
from policies.decisions import Action, Decision, TrainParams, Trigger

PARAMS = TrainParams(lr=1e-3, micro_batch=8, grad_accum=1)


def halving(epoch: int) -> Decision:
    return Decision(
        action=Action.HALVE_LR,
        trigger=Trigger.grade(letter="D", score=65.0, epoch=epoch),
        params_before=PARAMS,
        params_after=PARAMS.model_copy(update={"lr": 5e-4}),
        reason=f"grade D at epoch {epoch}",
    )


def test_an_event_is_decided_once_and_its_decision_found_again(tmp_path: Path) -> None:
    book = DecisionBook(tmp_path / "decisions.jsonl", "night")
    decision_id, known = book.known("ascii", ("grade", "main", 1))
    assert known is None
    book.write(decision_id, halving(1), specialist="ascii", phase="main", checkpoints_seen=2)
    again_id, again = book.known("ascii", ("grade", "main", 1))
    assert again_id == decision_id and again == halving(1)
    assert book.known("runic", ("grade", "main", 1))[1] is None, "ids are per specialist"
    assert book.checkpoints_seen == {decision_id: 2}


def test_an_outcome_is_written_once_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    book = DecisionBook(path, "night")
    decision_id, _ = book.known("ascii", ("grade", "main", 1))
    book.write(decision_id, halving(1), specialist="ascii", phase="main")
    book.outcome(decision_id, True, "sent to trainer:ascii: set_lr")
    book.outcome(decision_id, False, "a second outcome is ignored")
    book.outcome("no-such-id", True, "nothing to attach to")
    reread = DecisionBook(path, "night")
    outcome = reread.records[decision_id].outcome
    assert outcome is not None and (outcome.ok, outcome.detail) == (True, "sent to trainer:ascii: set_lr")
    assert len(path.read_text().splitlines()) == 2


def test_unapplied_decisions_spend_no_budget(tmp_path: Path) -> None:
    book = DecisionBook(tmp_path / "decisions.jsonl", "night")
    for epoch, detail in (
        (1, "sent to trainer:ascii: set_lr"),
        (2, f"{NOT_APPLIED}: the phase had ended"),
        (3, None),
    ):
        decision_id, _ = book.known("ascii", ("grade", "main", epoch))
        book.write(decision_id, halving(epoch), specialist="ascii", phase="main")
        if detail:
            book.outcome(decision_id, True, detail)
    assert [record.epoch for _, record in book.applied("ascii")] == [1, 3]
    assert book.interventions("ascii") == 2
    assert book.interventions("runic") == 0
