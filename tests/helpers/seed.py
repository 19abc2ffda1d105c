"""Many tasks at once, inserted straight into the tables of a SQL store (tests, benchmarks).

``seed_tasks(store, 100_000)`` writes 100,000 tasks in seconds: every task has the
parameters ``General/lr`` (a number) and ``General/optimizer`` (text), written the way the
store writes them (``num_value`` included), the metric ``train/loss`` (last, min = last
/ 2, max = last * 2) and, all but each tenth task, ``val/acc`` (min = last / 2, max = last).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.store import schema as t
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.task_columns import numeric_value

CHUNK = 20_000
OPTIMIZERS = ("adam", "sgd", "adamw")


TASK_COLUMNS = ("id", "project_id", "name", "type", "status", "status_reason",
                "status_message", "tags", "comment", "user", "created", "updated",
                "queue_priority", "attempt", "max_retries", "last_iteration", "abort_requested")
PARAM_COLUMNS = ("task_id", "section", "name", "value", "type", "description", "user",
                 "num_value")
METRIC_COLUMNS = ("task_id", "title", "series", "count", "last", "min", "max",
                  "last_iteration", "in_order")


def seed_tasks(store: SqlStore, n: int, project: str = "seed/table", seed: int = 7) -> list[str]:
    """Insert ``n`` completed tasks into ``project`` (created when missing), one second
    apart; returns their ids, oldest first."""
    project_id = store.tasks.get_or_create_project(project).id
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(seconds=n)
    # written in id order: the primary keys grow at their end, several times faster than
    # random ids; the creation times are shuffled, so id and age are unrelated
    ids = sorted(uuid.uuid4().hex for _ in range(n))
    ages = list(range(n))
    rng.shuffle(ages)
    tags = ["seed"]
    with store.engine.begin() as conn:
        for first in range(0, n, CHUNK):
            chunk = range(first, min(first + CHUNK, n))
            tasks: list[tuple[Any, ...]] = []
            params: list[tuple[Any, ...]] = []
            metrics: list[tuple[Any, ...]] = []
            for i in chunk:
                task_id, created = ids[i], start + timedelta(seconds=ages[i])
                tasks.append((task_id, project_id, f"trial {ages[i]}", "training", "completed",
                              "", "", tags, "", "seed", created, created, 0, 1, 0, 9, False))
                lr = f"{10 ** rng.uniform(-5, -1):.6g}"
                params.append((task_id, "General", "lr", lr, "float", "", "seed",
                               numeric_value(lr)))
                params.append((task_id, "General", "optimizer", OPTIMIZERS[i % 3], "str", "",
                               "seed", None))
                loss = rng.random()
                metrics.append((task_id, "train", "loss", 10, loss, loss / 2, loss * 2, 9, True))
                if i % 10:
                    acc = rng.random()
                    metrics.append((task_id, "val", "acc", 10, acc, acc / 2, acc, 9, True))
            _insert(conn, t.tasks, TASK_COLUMNS, tasks)
            _insert(conn, t.parameters, PARAM_COLUMNS, params)
            _insert(conn, t.metrics, METRIC_COLUMNS, metrics)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:  # plans fit for the new size at once
            conn.exec_driver_sql("ANALYZE tasks, parameters, metrics")
    return [task_id for _, task_id in sorted(zip(ages, ids, strict=True))]


def _insert(conn: Connection, table: sa.Table, names: tuple[str, ...],
            rows: list[tuple[Any, ...]]) -> None:
    """On SQLite ``executemany`` straight on the driver (SQLAlchemy's per-row work would
    take most of the time), values through the columns' own bind processors; elsewhere
    SQLAlchemy's bulk insert (``insertmanyvalues``: a few statements per chunk)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(sa.insert(table), [dict(zip(names, row, strict=True)) for row in rows])
        return
    compiled = (sa.insert(table).values({name: sa.bindparam(name) for name in names})
                .compile(dialect=conn.dialect))
    processors = [(index, _memo(process)) for index, name in enumerate(names)
                  if (process := table.c[name].type.bind_processor(conn.dialect)) is not None]
    if processors:
        rows = [_processed(row, processors) for row in rows]
    order = [names.index(name) for name in compiled.positiontup or ()]
    conn.exec_driver_sql(str(compiled), [tuple(row[i] for i in order) for row in rows])


def _processed(row: tuple[Any, ...],
               processors: list[tuple[int, Callable[[Any], Any]]]) -> tuple[Any, ...]:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its last answer: a task's ``updated`` is its ``created``,
    and every task shares one tags list."""
    last: list[Any] = [object(), None]

    def remembered(value: Any) -> Any:
        if value is not last[0]:
            last[:] = [value, process(value)]
        return last[1]
    return remembered
