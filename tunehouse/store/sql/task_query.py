"""Task listings of the SQL store: filters, sort orders (including by metric) and pages.

Plain functions over a connection; :class:`~tunehouse.store.sql.tasks.SqlTaskStore` calls
:func:`list_tasks` inside its read transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.records import TaskPage, TaskQuery
from tunehouse.store.sql.database import TASK_COLUMNS, DbRow, task_from_row

SORT_COLUMNS = {
    "created": t.tasks.c.created,
    "updated": t.tasks.c.updated,
    "name": t.tasks.c.name,
    "status": t.tasks.c.status,
    "type": t.tasks.c.type,
}
METRIC_PREFIX = "metric:"


def parse_metric_order(order_by: str) -> tuple[str, str]:
    """``metric:<title>/<series>`` -> (title, series); the series is after the last ``/``."""
    spec = order_by[len(METRIC_PREFIX):]
    title, slash, series = spec.rpartition("/")
    if not slash or not title or not series:
        raise InvalidInput(f"invalid order {order_by!r}: use metric:<title>/<series>")
    return title, series


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_tasks(conn: Connection, query: TaskQuery, postgres: bool) -> TaskPage:
    """One page of matching tasks and their total count.

    Filters: ``project`` matches one project exactly, by name or id (not its
    sub-projects); ``name`` is a case-insensitive substring; ``tags`` must all be
    present; the others are exact matches. ``metric:<title>/<series>`` orders by the
    chosen summary field, with tasks lacking that metric last (by creation time).
    """
    conditions = _conditions(query, postgres)
    total = conn.execute(
        sa.select(sa.func.count()).select_from(t.tasks).where(*conditions)).scalar_one()
    if query.order_by.startswith(METRIC_PREFIX):
        rows = _page_by_metric(conn, query, conditions)
    else:
        column = SORT_COLUMNS.get(query.order_by)
        if column is None:
            raise InvalidInput(
                f"invalid order {query.order_by!r}: use one of "
                f"{', '.join(SORT_COLUMNS)} or metric:<title>/<series>")
        direction = sa.desc if query.descending else sa.asc
        rows = _fetch(conn, conditions,
                           [direction(column), direction(t.tasks.c.id)],
                           query.limit, query.offset)
    return TaskPage(total=total, tasks=[task_from_row(row) for row in rows])


def _conditions(query: TaskQuery, postgres: bool) -> list[sa.ColumnElement[bool]]:
    tasks = t.tasks.c
    conditions: list[sa.ColumnElement[bool]] = []
    if query.project is not None:
        conditions.append(tasks.project_id.in_(
            sa.select(t.projects.c.id).where(sa.or_(
                t.projects.c.name == query.project, t.projects.c.id == query.project))))
    if query.status:
        conditions.append(tasks.status.in_([status.value for status in query.status]))
    if query.type:
        conditions.append(tasks.type.in_([kind.value for kind in query.type]))
    if query.parent_id is not None:
        conditions.append(tasks.parent_id == query.parent_id)
    if query.user is not None:
        conditions.append(tasks.user == query.user)
    if query.name:
        conditions.append(tasks.name.ilike(f"%{_escape_like(query.name)}%", escape="\\"))
    for tag in query.tags or []:
        conditions.append(_has_tag(tag, postgres))
    return conditions

def _has_tag(tag: str, postgres: bool) -> sa.ColumnElement[bool]:
    if postgres:
        return t.tasks.c.tags.op("@>", return_type=sa.Boolean)(sa.func.jsonb_build_array(tag))
    each = sa.func.json_each(t.tasks.c.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == tag))

def _fetch(conn: Connection, conditions: list[sa.ColumnElement[bool]],
           order: list[Any], limit: int, offset: int,
           metric_join: tuple[Any, Any] | None = None) -> list[DbRow]:
    query = sa.select(*TASK_COLUMNS).select_from(t.tasks)
    if metric_join is not None:
        query = query.select_from(metric_join[0]).join(t.tasks, metric_join[1])
    query = query.join(t.projects, t.projects.c.id == t.tasks.c.project_id)
    return list(conn.execute(query.where(*conditions).order_by(*order)
                             .limit(limit).offset(offset)).all())

def _page_by_metric(conn: Connection, query: TaskQuery,
                    conditions: list[sa.ColumnElement[bool]]) -> list[DbRow]:
    """Tasks with the metric, walked in index order of the summary value, then the
    tasks without it; the second part is read only when the page reaches it."""
    title, series = parse_metric_order(query.order_by)
    metric = t.metrics.alias("order_metric")
    value = metric.c[query.metric_field]
    has_metric = sa.and_(metric.c.title == title, metric.c.series == series,
                         value.is_not(None))
    direction = sa.desc if query.descending else sa.asc
    rows = _fetch(conn, [has_metric, *conditions],
                       [direction(value), direction(metric.c.id)],
                       query.limit, query.offset,
                       metric_join=(metric, metric.c.task_id == t.tasks.c.id))
    if len(rows) == query.limit:
        return rows
    with_metric = conn.execute(
        sa.select(sa.func.count()).select_from(metric)
        .join(t.tasks, metric.c.task_id == t.tasks.c.id)
        .where(has_metric, *conditions)).scalar_one()
    lacking = ~sa.exists(sa.select(1).select_from(metric).where(
        metric.c.task_id == t.tasks.c.id, has_metric))
    rest = _fetch(conn, [lacking, *conditions],
                       [direction(t.tasks.c.created), direction(t.tasks.c.id)],
                       query.limit - len(rows), max(0, query.offset - with_metric))
    return rows + rest
