"""The task status machine, enforced here and nowhere else.

::

    created ──▶ queued ──▶ in_progress ──▶ completed | failed | aborted
       ▲  ◀────────┘ (dequeue)   │  ▲
       │                         └──┘ queued (requeue: retry or lost worker)
       └──── reset ◀── completed | failed | aborted | queued
    created ──▶ in_progress   (a script started locally)
    created | queued ──▶ aborted

A transition to the same status is allowed only for terminal states being re-marked with
``force`` (for example an agent re-marking a failed task); everything else not drawn is a
409 naming both states.
"""

from __future__ import annotations

from tunehouse.errors import InvalidTransition
from tunehouse.store.records import TaskStatus

S = TaskStatus

ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.created: frozenset({S.queued, S.in_progress, S.aborted}),
    S.queued: frozenset({S.created, S.in_progress, S.aborted}),
    S.in_progress: frozenset({S.completed, S.failed, S.aborted, S.queued}),
    S.completed: frozenset({S.created}),
    S.failed: frozenset({S.created}),
    S.aborted: frozenset({S.created}),
}

TERMINAL: frozenset[TaskStatus] = frozenset({S.completed, S.failed, S.aborted})
ACTIVE: frozenset[TaskStatus] = frozenset({S.queued, S.in_progress})


def check_transition(old: TaskStatus, new: TaskStatus, *, force: bool = False) -> None:
    """Raise :class:`InvalidTransition` unless ``old -> new`` is allowed.

    ``force`` additionally lets any state move to ``created`` (reset) or to ``aborted``
    and lets a terminal state be overwritten by another terminal state.
    """
    if new in ALLOWED[old]:
        return
    if force and (new in (S.created, S.aborted) or (old in TERMINAL and new in TERMINAL)):
        return
    raise InvalidTransition(
        f"cannot change task status from '{old.value}' to '{new.value}'",
        detail={"from": old.value, "to": new.value},
    )
