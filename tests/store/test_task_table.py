"""Task tables at scale (SQLite): a page costs a constant number of SQL statements, whatever
its size, and keyset pages stay cheap deep into 100,000 tasks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.helpers.seed import seed_tasks
from tunehouse.store.records import TaskPage, TaskQuery
from tunehouse.store.sql import SqlStore

TASKS = 100_000
PROJECT = "scale/table"
COLUMNS = ["param:General/lr", "param:General/optimizer", "metric:val/acc"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    folder: Path = tmp_path_factory.mktemp("task-table")
    store = SqlStore(f"sqlite:///{folder / 'tunehouse.db'}", folder / "artifacts", user="tester")
    seed_tasks(store, TASKS, project=PROJECT)
    try:
        yield store
    finally:
        store.close()


def _listed(store: SqlStore, query: TaskQuery) -> tuple[TaskPage, int]:
    """The page and the number of SQL statements it took."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        page = store.tasks.list_tasks(query)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return page, len(statements)


@pytest.mark.parametrize("order", [
    {}, {"order_by": "metric:val/acc"}, {"order_by": "metric:val/acc:min", "descending": False},
    {"order_by": "param:General/lr"}, {"order_by": "name", "descending": False},
    {"filters": ["param:General/lr < 0.001", "metric:val/acc > 0.5"]},
])
def test_a_page_costs_the_same_statements_whatever_its_size(store: SqlStore,
                                                            order: dict[str, Any]) -> None:
    small, small_count = _listed(store, TaskQuery(project=PROJECT, columns=COLUMNS, limit=10,
                                                  **order))
    big, big_count = _listed(store, TaskQuery(project=PROJECT, columns=COLUMNS, limit=200,
                                              **order))
    assert len(small.tasks) == 10 and len(big.tasks) == 200
    assert small_count == big_count
    assert small_count <= 6  # project, count, page, parameters, metrics (+ transaction)
    assert [task.id for task in big.tasks[:10]] == [task.id for task in small.tasks]
    assert small.total == big.total and len(big.values) == 200
    assert all(set(values) <= set(COLUMNS) for values in big.values.values())


def test_the_first_page_of_100k_tasks_is_quick(store: SqlStore) -> None:
    query = TaskQuery(project=PROJECT, columns=COLUMNS, limit=50)
    store.tasks.list_tasks(query)  # warm the page cache
    start = time.perf_counter()
    page = store.tasks.list_tasks(query)
    elapsed = time.perf_counter() - start
    assert page.total == TASKS and len(page.tasks) == 50 and page.next_cursor is not None
    created = [task.created for task in page.tasks]
    assert created == sorted(created, reverse=True)
    assert elapsed < 2.0, f"first page took {elapsed * 1000:.0f} ms"  # about 20 ms unloaded


def test_deep_keyset_pages_cost_like_the_first(store: SqlStore) -> None:
    query = TaskQuery(project=PROJECT, order_by="metric:val/acc", columns=COLUMNS, limit=1000)
    seen: set[str] = set()
    counts = set()
    for _ in range(3):
        page, statements = _listed(store, query)
        counts.add(statements)
        ids = [task.id for task in page.tasks]
        assert len(ids) == 1000 and not seen & set(ids)
        seen.update(ids)
        values = [page.values[task_id]["metric:val/acc"] for task_id in ids]
        assert values == sorted(values, reverse=True)
        assert page.next_cursor is not None
        query = query.model_copy(update={"cursor": page.next_cursor})
    assert len(counts) == 1
