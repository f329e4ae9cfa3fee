"""The decision book: once per event key, an outcome once, unapplied decisions free, reread from the log."""

from __future__ import annotations

from pathlib import Path

from control.decision_book import NOT_APPLIED, DecisionBook
from policies.decision_log import append_outcome, append_record
from policies.decisions import Action, Decision, TrainParams, Trigger

PARAMS = TrainParams(peak_lr=1e-3, micro_batch=8, grad_accum=1)
NOW = 1_700_000_000.0


def halving(epoch: int) -> Decision:
    return Decision(
        action=Action.HALVE_LR,
        trigger=Trigger.grade(letter="D", score=65.0, epoch=epoch),
        params_before=PARAMS,
        params_after=PARAMS.model_copy(update={"peak_lr": 5e-4}),
        reason=f"grade D at epoch {epoch}",
    )


def test_an_event_is_decided_once_and_its_decision_found_again() -> None:
    book = DecisionBook("night")
    decision_id, known = book.known("ascii", ("grade", "main", 1))
    assert known is None
    record = book.add(decision_id, halving(1), specialist="ascii", phase="main", now=NOW, checkpoints_seen=2)
    assert (record.decision_id, record.time.timestamp(), record.action) == (decision_id, NOW, "halve_lr")
    again_id, again = book.known("ascii", ("grade", "main", 1))
    assert again_id == decision_id and again == halving(1)
    assert book.known("runic", ("grade", "main", 1))[1] is None, "ids are per specialist"
    assert book.checkpoints_seen == {decision_id: 2}


def test_an_outcome_is_kept_once() -> None:
    book = DecisionBook("night")
    decision_id, _ = book.known("ascii", ("grade", "main", 1))
    book.add(decision_id, halving(1), specialist="ascii", phase="main", now=NOW)
    assert book.outcome(decision_id, True, "sent to trainer:ascii: set_lr", NOW + 1) is True
    assert book.outcome(decision_id, False, "a second outcome is ignored", NOW + 2) is False
    assert book.outcome("no-such-id", True, "nothing to attach to", NOW) is False
    outcome = book.records[decision_id].outcome
    assert outcome is not None and (outcome.ok, outcome.detail) == (True, "sent to trainer:ascii: set_lr")


def test_a_restarted_book_reads_the_log_with_its_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    book = DecisionBook("night")
    decision_id, _ = book.known("ascii", ("grade", "main", 1))
    append_record(path, book.add(decision_id, halving(1), specialist="ascii", phase="main", now=NOW))
    append_outcome(path, decision_id, ok=True, detail="sent to trainer:ascii: set_lr")
    reread = DecisionBook.read(path, "night")
    assert reread.known("ascii", ("grade", "main", 1)) == (decision_id, halving(1))
    outcome = reread.records[decision_id].outcome
    assert outcome is not None and outcome.detail == "sent to trainer:ascii: set_lr"


def test_unapplied_decisions_spend_no_budget() -> None:
    book = DecisionBook("night")
    for epoch, detail in (
        (1, "sent to trainer:ascii: set_lr"),
        (2, f"{NOT_APPLIED}: the phase had ended"),
        (3, None),
    ):
        decision_id, _ = book.known("ascii", ("grade", "main", epoch))
        book.add(decision_id, halving(epoch), specialist="ascii", phase="main", now=NOW)
        if detail:
            book.outcome(decision_id, True, detail, NOW)
    assert [record.epoch for _, record in book.applied("ascii")] == [1, 3]
    assert book.interventions("ascii") == 2
    assert book.interventions("runic") == 0
