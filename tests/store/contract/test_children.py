"""Contract of ``tasks.wait_for_children``: the version of a task's children and the long
poll on it that search controllers wait on (every backend; on SQL also a write made by
another process's store, which the wait finds by polling)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.store.contract.helpers import S, batch_id, move, new_task, unique
from tunehouse.errors import NotFound
from tunehouse.store.base import Store
from tunehouse.store.records import EventBatch, TaskCreate

#: Far longer than a wake-up takes anywhere (the SQL store polls other processes' writes
#: every 0.05 s): a wait that lasts this long was not woken.
LONG_WAIT_S = 20.0


def _child(store: Store, parent: str) -> str:
    project = store.tasks.get_task(parent).project
    return store.tasks.create_task(TaskCreate(project=project, name=unique("child"),
                                              parent_id=parent)).id


def _woken_by(store: Store, parent: str, since: str, write: Callable[[], object]) -> str:
    """The version a wait returns when ``write`` happens 0.2 s into it (fails when the wait
    ran to its end instead)."""
    timer = threading.Timer(0.2, write)
    timer.start()
    started = time.monotonic()
    try:
        version = store.tasks.wait_for_children(parent, since, wait_s=LONG_WAIT_S)
    finally:
        timer.join()
    assert time.monotonic() - started < LONG_WAIT_S - 5, "the wait was not woken by the write"
    assert version != since
    return version


def test_the_version_moves_with_each_write_of_a_child(store: Store) -> None:
    parent = new_task(store)
    empty = store.tasks.wait_for_children(parent)
    assert store.tasks.wait_for_children(parent, empty) == empty  # no wait asked: at once
    started = time.monotonic()
    assert store.tasks.wait_for_children(parent, empty, wait_s=0.3) == empty
    assert time.monotonic() - started >= 0.25  # nothing changed: it waited
    child = _child(store, parent)
    created = store.tasks.wait_for_children(parent)
    assert created != empty
    move(store, child, S.in_progress, worker="w")
    running = store.tasks.wait_for_children(parent, created)
    assert running not in (empty, created)
    reported = _woken_by(store, parent, running, lambda: store.events.add_events(EventBatch(
        batch_id=batch_id(), task_id=child, scalars=[("objective", "value", 1, 0.5, 0.0)])))
    ended = _woken_by(store, parent, reported,
                      lambda: move(store, child, S.completed))
    assert ended != running
    store.tasks.delete_task(child)
    assert store.tasks.wait_for_children(parent, ended) != ended
    # writes to tasks that are not its children leave the version alone
    before = store.tasks.wait_for_children(parent)
    move(store, new_task(store), S.in_progress, worker="w")
    move(store, parent, S.in_progress, worker="w")
    assert store.tasks.wait_for_children(parent, before) == before


def test_waiting_on_a_missing_task_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.tasks.wait_for_children("0" * 32, wait_s=1)


def test_a_write_by_another_process_store_wakes_the_wait(store: Store, store_kind: str,
                                                         request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
    if store_kind == "http":
        pytest.skip("over HTTP every write goes through the server's store")
    from tunehouse.store.sql import SqlStore

    url = request.getfixturevalue(f"{store_kind}_schema_url".replace("postgres", "pg"))
    other = SqlStore(url, tmp_path / "other-artifacts", user="tester")  # its own signal
    try:
        parent = new_task(store)
        child = _child(store, parent)
        since = store.tasks.wait_for_children(parent)
        _woken_by(store, parent, since, lambda: other.tasks.request_abort(child, "stop"))
    finally:
        other.close()
