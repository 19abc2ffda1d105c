"""Task tables at scale (SQLite): a page costs a constant number of SQL statements, whatever
its size, and keyset pages stay cheap deep into 100,000 tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.helpers.event_loop import run_async
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


def test_the_first_page_of_100k_tasks(store: SqlStore) -> None:
    """Newest first, with a cursor to go on (its time is measured by benchmarks/ui.py)."""
    page = store.tasks.list_tasks(TaskQuery(project=PROJECT, columns=COLUMNS, limit=50))
    assert page.total == TASKS and len(page.tasks) == 50 and page.next_cursor is not None
    created = [task.created for task in page.tasks]
    assert created == sorted(created, reverse=True)


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


def statements_into(statements: list[str]) -> Any:
    """A ``before_cursor_execute`` listener appending each statement to ``statements``."""
    return lambda *args: statements.append(args[2])


def test_the_rendered_table_costs_the_same_statements_whatever_its_size(
        store: SqlStore, tmp_path: Path) -> None:
    """The experiment table page itself (the server's app in process, signed in through
    the login form): no statement per row."""
    import httpx

    from tunehouse.server.accounts import open_accounts
    from tunehouse.server.app import create_app
    from tunehouse.settings import Settings

    open_accounts(store).users.create_user("table-viewer", "a password", admin=True)
    app = create_app(Settings.from_env({"TUNEHOUSE_HOME": str(tmp_path)}), store=store)
    project_id = store.tasks.get_project(PROJECT).id
    columns = "&".join(f"col={spec}" for spec in COLUMNS)

    async def statements_per_page() -> dict[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     headers={"Accept": "text/html"}) as client:
            form = (await client.get("/login")).text
            token = form.split('name="login_token" value="')[1].split('"')[0]
            signed = await client.post("/login", data={
                "username": "table-viewer", "password": "a password", "login_token": token})
            assert signed.status_code == 303
            counts = {}
            for limit in (10, 200):
                statements: list[str] = []
                listener = statements_into(statements)
                event.listen(store.engine, "before_cursor_execute", listener)
                try:
                    answer = await client.get(
                        f"/projects/{project_id}/tasks?{columns}&limit={limit}")
                finally:
                    event.remove(store.engine, "before_cursor_execute", listener)
                assert answer.status_code == 200
                assert answer.text.count('<tr data-id="') == limit
                counts[limit] = len(statements)
            return counts

    counts = run_async(statements_per_page)
    assert counts[10] == counts[200], counts
