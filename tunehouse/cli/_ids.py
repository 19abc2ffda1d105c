"""Naming records by id or by the start of their id, the same way in every command.

Every command that takes a task id (``tasks``, ``queues move``, ``hpo``, ``models list
--task``) or a model id (``models show``) accepts any prefix of the id that is unique, at any
length, and says the same thing when it is not:

    no task matches 'xyz'
    'ab' matches 3 tasks: ab01..., ab7f..., abc2..., use more characters
"""

from __future__ import annotations

from collections.abc import Iterable

from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.base import Store
from tunehouse.store.records import Task, TaskQuery

#: At most this many tasks are scanned for a prefix (newest first).
PREFIX_SCAN_LIMIT = 20_000
#: How many of the ids an ambiguous prefix matches the message names.
SHOWN_MATCHES = 5


def pick_by_prefix(kind: str, ref: str, ids: Iterable[str]) -> str:
    """The one id of ``ids`` that starts with ``ref`` (case-insensitive).

    Args:
        kind: What the ids name, for the messages (``task``, ``model``).
        ref: What the user typed.
        ids: The candidate ids.

    Raises:
        InvalidInput: ``ref`` is empty, or several ids start with it.
        NotFound: no id starts with it.
    """
    start = ref.strip().lower()
    if not start:
        raise no_id_given(kind)
    matches = sorted({one for one in ids if one.lower().startswith(start)})
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no {kind} matches {ref!r}")
    shown = ", ".join(matches[:SHOWN_MATCHES]) + (", ..." if len(matches) > SHOWN_MATCHES else "")
    raise InvalidInput(f"{ref!r} matches {len(matches)} {kind}s: {shown}, use more characters")


def resolve_task(store: Store, ref: str) -> Task:
    """The task whose id is ``ref``, or the only one whose id starts with it (see
    :func:`pick_by_prefix`; the newest :data:`PREFIX_SCAN_LIMIT` tasks are searched)."""
    ref = ref.strip()
    if not ref:
        raise no_id_given("task")
    try:
        return store.tasks.get_task(ref)
    except (NotFound, InvalidInput):  # InvalidInput: not even shaped like an id
        pass
    start = ref.lower()
    found = {task.id: task for task in store.tasks.iter_tasks(TaskQuery(limit=1000),
                                                               at_most=PREFIX_SCAN_LIMIT)
             if task.id.lower().startswith(start)}
    return found[pick_by_prefix("task", ref, found)]


def no_id_given(kind: str) -> InvalidInput:
    """The error for an empty id."""
    return InvalidInput(f"give a {kind} id (or its first characters)")
