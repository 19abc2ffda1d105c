"""ClearML's model records in the SQL store (the area only the SQL store has)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunehouse.errors import NotFound
from tunehouse.store.records import TaskCreate
from tunehouse.store.sql import SqlStore


def test_records_are_kept_found_and_outlive_their_task(sqlite_schema_url: str,
                                                       tmp_path: Path) -> None:
    store = SqlStore(sqlite_schema_url, tmp_path / "artifacts", user="tester")
    try:
        records = store.clearml_models
        task = store.tasks.create_task(TaskCreate(project="p", name="t"))
        loose = records.create_record(None, "loose", {"uri": "s3://b/w", "id": "ignored"})
        bound = records.create_record(task.id, "net", {"uri": "u", "labels": {"a": 1}})
        assert len(loose["id"]) == 32 and loose["uri"] == "s3://b/w"
        assert (bound["task"], bound["user"], bound["labels"]) == (task.id, "tester", {"a": 1})
        changed = records.update_record(loose["id"], task.id, "renamed", {**loose, "ready": True})
        assert (changed["name"], changed["task"], changed["ready"]) == ("renamed", task.id, True)
        assert [r["id"] for r in records.list_records(task_ids=[task.id])] == [
            loose["id"], bound["id"]]
        assert [r["id"] for r in records.list_records(ids=[bound["id"]])] == [bound["id"]]
        with pytest.raises(NotFound):
            records.get_record("0" * 32)
        with pytest.raises(NotFound):
            records.update_record("0" * 32, None, "x", {})
        store.tasks.delete_task(task.id)  # the records stay, without a task
        assert records.get_record(bound["id"])["task"] is None
    finally:
        store.close()
