"""The task status machine (tunehouse.store.status)."""

from __future__ import annotations

import pytest

from tunehouse.errors import Conflict, InvalidTransition
from tunehouse.store.records import TaskStatus
from tunehouse.store.status import ACTIVE, ALLOWED, TERMINAL, check_transition

S = TaskStatus

EXPECTED = {
    (S.created, S.queued), (S.created, S.in_progress), (S.created, S.aborted),
    (S.queued, S.created), (S.queued, S.in_progress), (S.queued, S.aborted),
    (S.in_progress, S.completed), (S.in_progress, S.failed), (S.in_progress, S.aborted),
    (S.in_progress, S.queued),
    (S.completed, S.created), (S.failed, S.created), (S.aborted, S.created),
}
ALL_PAIRS = [(old, new) for old in S for new in S]


def test_the_machine_is_the_drawn_one() -> None:
    assert {(old, new) for old, targets in ALLOWED.items() for new in targets} == EXPECTED
    assert set(ALLOWED) == set(S)
    assert {S.completed, S.failed, S.aborted} == TERMINAL
    assert {S.queued, S.in_progress} == ACTIVE


@pytest.mark.parametrize("old, new", ALL_PAIRS)
def test_transitions_without_force(old: TaskStatus, new: TaskStatus) -> None:
    if (old, new) in EXPECTED:
        check_transition(old, new)
        return
    with pytest.raises(InvalidTransition) as info:
        check_transition(old, new)
    assert isinstance(info.value, Conflict) and info.value.status == 409
    assert f"'{old.value}'" in info.value.message and f"'{new.value}'" in info.value.message
    assert info.value.detail == {"from": old.value, "to": new.value}


@pytest.mark.parametrize("old, new", ALL_PAIRS)
def test_transitions_with_force(old: TaskStatus, new: TaskStatus) -> None:
    forced = new in (S.created, S.aborted) or (old in TERMINAL and new in TERMINAL)
    if (old, new) in EXPECTED or forced:
        check_transition(old, new, force=True)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(old, new, force=True)


def test_same_status_only_for_forced_terminal() -> None:
    for status in S:
        with pytest.raises(InvalidTransition):
            check_transition(status, status)
    check_transition(S.failed, S.failed, force=True)
    with pytest.raises(InvalidTransition):
        check_transition(S.in_progress, S.in_progress, force=True)
    with pytest.raises(InvalidTransition):
        check_transition(S.queued, S.queued, force=True)
