"""How decisions become trainer commands: a rollback carries the decision's LR and batch with it."""

from __future__ import annotations

from control.commands import commands_for, parameter_commands
from policies.decisions import Action, Decision, TrainParams, Trigger

BEFORE = TrainParams(peak_lr=2e-3, micro_batch=8, grad_accum=1)


def decision(action: Action, after: TrainParams, trigger: Trigger | None = None) -> Decision:
    return Decision(
        action=action,
        trigger=trigger or Trigger.grade(letter="F", score=40.0),
        params_before=BEFORE,
        params_after=after,
        checkpoint="best" if action is Action.ROLLBACK else None,
        reason="test",
    )


def test_a_halving_without_rollback_sends_only_the_new_lr() -> None:
    halved = BEFORE.model_copy(update={"peak_lr": 1e-3})
    assert [c.name for c in commands_for(decision(Action.HALVE_LR, halved))] == ["set_lr"]


def test_a_rollback_resends_lr_and_batch_so_the_restored_checkpoint_cannot_undo_them() -> None:
    halved = BEFORE.model_copy(update={"peak_lr": 1e-3})
    commands = commands_for(decision(Action.ROLLBACK, halved))
    assert [(c.name, c.peak_lr, c.micro_batch, c.grad_accum) for c in commands] == [
        ("set_lr", 1e-3, None, None),
        ("set_batch", None, 8, 1),
        ("rollback", None, None, None),
    ]
    assert commands[-1].checkpoint == "best"


def test_a_fault_rollback_with_unchanged_parameters_still_pins_them() -> None:
    same = decision(Action.SHRINK_BATCH, BEFORE, Trigger.oom(detail="x"))
    assert [c.name for c in parameter_commands(same)] == []
    pinned = parameter_commands(same, after_rollback=True)
    expected = [("set_lr", 2e-3, None), ("set_batch", None, 8)]
    assert [(c.name, c.peak_lr, c.micro_batch) for c in pinned] == expected
