"""PostgreSQL's notifications (tunehouse.store.sql.notifications): a claim waiting in one
store is woken by a task queued through another (another server process, as far as
the stores know: each has its own signals and listener), a search controller's wait by a
report of one of its children stored elsewhere, and the listener comes back after its
connection is cut. The stores' own polls are made far longer than the waits, so a wait
that returns early with the change was woken by a notification."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers.wait import wait_until
from tunehouse.store.records import EventBatch, ScalarEvent, TaskCreate
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql import database as sql_database
from tunehouse.store.sql.notifications import APPLICATION_NAME

WAIT_S = 20.0


@pytest.fixture
def two_stores(pg_schema_url: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SqlStore, SqlStore]]:
    monkeypatch.setattr(sql_database, "SAFETY_POLL_S", 60.0)
    waiting = SqlStore(pg_schema_url, tmp_path / "a", user="tester")
    writing = SqlStore(pg_schema_url, tmp_path / "b", user="tester")
    try:
        yield waiting, writing
    finally:
        waiting.close()
        writing.close()


def _returns_early(wait: Callable[[], object], write: Callable[[], object]) -> object:
    """What ``wait`` returns when ``write`` runs 0.3 s into it; fails when the wait ran
    (nearly) to its end, i.e. was not woken."""
    timer = threading.Timer(0.3, write)
    timer.start()
    started = time.monotonic()
    try:
        result = wait()
    finally:
        timer.join()
    assert time.monotonic() - started < WAIT_S / 2, "not woken by the notification"
    return result


def test_a_claim_is_woken_by_a_task_queued_through_another_store(
        two_stores: tuple[SqlStore, SqlStore]) -> None:
    waiting, writing = two_stores
    task = writing.tasks.create_task(TaskCreate(project="notify", name="t")).id
    claimed = _returns_early(
        lambda: waiting.queues.claim_task(["notify-q"], "w", wait_s=WAIT_S),
        lambda: writing.queues.enqueue(task, "notify-q"))
    assert claimed is not None and claimed.id == task  # type: ignore[attr-defined]


def test_a_controller_is_woken_by_a_report_of_its_child_stored_elsewhere(
        two_stores: tuple[SqlStore, SqlStore]) -> None:
    waiting, writing = two_stores
    parent = writing.tasks.create_task(TaskCreate(project="notify", name="search")).id
    child = writing.tasks.create_task(TaskCreate(project="notify", name="trial",
                                                 parent_id=parent)).id
    since = waiting.tasks.wait_for_children(parent)
    batch = EventBatch(batch_id="notify-1", task_id=child, scalars=[
        ScalarEvent("loss", "train", 1, 0.5, time.time())])
    version = _returns_early(
        lambda: waiting.tasks.wait_for_children(parent, since, wait_s=WAIT_S),
        lambda: writing.events.add_events(batch))
    assert version != since


def test_the_listener_comes_back_after_its_connection_is_cut(
        two_stores: tuple[SqlStore, SqlStore], pg_schema_url: str) -> None:
    waiting, writing = two_stores
    assert waiting.queues.claim_task(["notify-q"], "w", wait_s=0.1) is None  # listening
    killed = sa.create_engine(pg_schema_url)
    try:
        with killed.begin() as conn:
            cut = conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"),
                {"name": APPLICATION_NAME}).all()
        assert cut, "no listener connection found"

        def listening_again() -> bool:
            with killed.begin() as conn:
                return bool(conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                    "AND datname = current_database()"), {"name": APPLICATION_NAME}).scalar())

        wait_until(listening_again, timeout=15, what="the listener to reconnect")
    finally:
        killed.dispose()
    task = writing.tasks.create_task(TaskCreate(project="notify", name="t")).id
    claimed = _returns_early(
        lambda: waiting.queues.claim_task(["notify-q"], "w", wait_s=WAIT_S),
        lambda: writing.queues.enqueue(task, "notify-q"))
    assert claimed is not None


def test_sqlite_has_no_listener(sqlite_schema_url: str, tmp_path: Path) -> None:
    store = SqlStore(sqlite_schema_url, tmp_path / "a", user="tester")
    try:
        assert store.db.poll_interval(0.2) == 0.2
        assert store.db.listener is None
    finally:
        store.close()
