"""Views of a store (``with_user``) share its connections and release nothing on close."""

from __future__ import annotations

from pathlib import Path

from tunehouse.store.records import TaskCreate
from tunehouse.store.sql import SqlStore


def test_closing_a_view_keeps_the_shared_engine(sqlite_url: str, tmp_path: Path) -> None:
    with SqlStore(sqlite_url, tmp_path / "blobs", user="owner") as store:
        store.tasks.create_task(TaskCreate(project="views/p", name="first"))
        pool = store.engine.pool
        assert pool.checkedin() >= 1
        view = store.with_user("alice")
        task = view.tasks.create_task(TaskCreate(project="views/p", name="by alice"))
        view.close()
        assert store.engine.pool is pool and pool.checkedin() >= 1  # not disposed
        assert store.tasks.get_task(task.id).user == "alice"
        assert view.user == "alice" and store.user == "owner"
