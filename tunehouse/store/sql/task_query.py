"""Task listings of the SQL store: filters, sort orders (by task fields, parameters and
metrics), keyset pages and the values of chosen columns (:mod:`.task_columns`).

Plain functions over a connection; :class:`~tunehouse.store.sql.tasks.SqlTaskStore` calls
:func:`list_tasks` inside its read transaction.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.columns import (
    METRIC_PREFIX,
    PARAM_PREFIX,
    SPEC_HELP,
    ParamColumn,
    parse_column,
)
from tunehouse.store.records import TaskPage, TaskQuery
from tunehouse.store.sql.database import TASK_COLUMNS, DbRow, task_from_row
from tunehouse.store.sql.task_columns import (
    column_values,
    decode_cursor,
    encode_cursor,
    filter_conditions,
    key_value,
    parse_columns,
)

SORT_COLUMNS = {
    "created": t.tasks.c.created,
    "updated": t.tasks.c.updated,
    "name": t.tasks.c.name,
    "status": t.tasks.c.status,
    "type": t.tasks.c.type,
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class _Part:
    """One stretch of an order: the tasks meeting ``where`` (over ``tasks`` joined with
    ``join`` when given), sorted by ``keys``, whose last one is the task id. An order is
    a sequence of parts: the tasks with a numeric value, (with text values,) then those
    lacking the value; a keyset cursor names the part and the key of its last row."""

    keys: list[sa.ColumnElement[Any]]
    where: list[sa.ColumnElement[bool]] = field(default_factory=list)
    join: tuple[sa.FromClause, sa.ColumnElement[bool]] | None = None


def list_tasks(conn: Connection, query: TaskQuery, postgres: bool,
               project_ids: list[str] | None = None) -> TaskPage:
    """One page of matching tasks, their total count, the values of the query's columns
    and the cursor of the next page, in a constant number of queries: the count, one
    per part of the order the page reaches (at most three), one for the page's
    parameter columns and one for its metric columns.

    Filters: ``project`` matches one project exactly, by name or id (not its
    sub-projects); ``name`` is a case-insensitive substring; ``tags`` must all be
    present and ``exclude_tags`` all absent; ``filters`` are ``COLUMN OP VALUE`` expressions
    (:mod:`~tunehouse.store.sql.task_columns`); the others are exact matches. Orders by a
    parameter or metric put the tasks lacking it last (newest first when descending).
    ``project_ids`` (not part of the query: the server's permission checks pass it) keeps
    only the tasks of those projects.
    """
    if query.cursor is not None and query.offset:
        raise InvalidInput("give a cursor or an offset, not both: the cursor already "
                           "continues after the previous page")
    columns = parse_columns(query.columns)
    filters = filter_conditions(query.filters)
    signature, parts = _order(query)
    group, after = 0, None
    if query.cursor is not None:
        group, raw = decode_cursor(query.cursor, signature)
        if not 0 <= group < len(parts) or len(raw) != len(parts[group].keys):
            raise InvalidInput("invalid cursor: pass the next_cursor of the previous page")
        after = [key_value(key, value) for key, value in zip(parts[group].keys, raw, strict=True)]
    conditions = [*_conditions(conn, query, postgres), *filters]
    if project_ids is not None:
        conditions.append(t.tasks.c.project_id.in_(project_ids))
    total = conn.execute(
        sa.select(sa.func.count()).select_from(t.tasks).where(*conditions)).scalar_one()
    rows = _walk(conn, query, parts, conditions, group, after)
    page = rows[:query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last_group, last = page[-1]
        next_cursor = encode_cursor(signature, last_group, [
            last._mapping[f"sort_{i}"] for i in range(len(parts[last_group].keys))])
    tasks = [task_from_row(row) for _, row in page]
    return TaskPage(total=total, tasks=tasks, next_cursor=next_cursor,
                    values=column_values(conn, [task.id for task in tasks], columns))


def _order(query: TaskQuery) -> tuple[str, list[_Part]]:
    """The cursor signature of the query's order and the order's parts."""
    direction = "desc" if query.descending else "asc"
    tasks = t.tasks.c
    plain = SORT_COLUMNS.get(query.order_by)
    if plain is not None:
        return f"{query.order_by}:{direction}", [_Part([plain, tasks.id])]
    if not query.order_by.startswith((PARAM_PREFIX, METRIC_PREFIX)):
        raise InvalidInput(f"invalid order {query.order_by!r}: use one of "
                           f"{', '.join(SORT_COLUMNS)} or {SPEC_HELP}")
    try:
        column = parse_column(query.order_by, query.metric_field)
    except InvalidInput:
        raise InvalidInput(f"invalid order {query.order_by!r}: use one of "
                           f"{', '.join(SORT_COLUMNS)} or {SPEC_HELP}") from None
    lacking_keys: list[sa.ColumnElement[Any]] = [tasks.created, tasks.id]
    if isinstance(column, ParamColumn):
        param, params = t.parameters.alias("order_param"), t.parameters
        on = sa.and_(param.c.task_id == tasks.id, param.c.section == column.section,
                     param.c.name == column.name)
        has = sa.select(1).select_from(params).where(
            params.c.task_id == tasks.id, params.c.section == column.section,
            params.c.name == column.name).correlate(t.tasks).exists()
        parts = [_Part([param.c.num_value, tasks.id], [param.c.num_value.is_not(None)],
                       (param, on)),
                 _Part([param.c.value, tasks.id], [param.c.num_value.is_(None)], (param, on)),
                 _Part(lacking_keys, [~has])]
    else:
        metric, metrics = t.metrics.alias("order_metric"), t.metrics
        value = metric.c[column.field]
        on = sa.and_(metric.c.task_id == tasks.id, metric.c.title == column.title,
                     metric.c.series == column.series)
        has = sa.select(1).select_from(metrics).where(
            metrics.c.task_id == tasks.id, metrics.c.title == column.title,
            metrics.c.series == column.series, metrics.c[column.field].is_not(None),
        ).correlate(t.tasks).exists()
        parts = [_Part([value, tasks.id], [value.is_not(None)], (metric, on)),
                 _Part(lacking_keys, [~has])]
    return f"{column.spec}:{direction}", parts


def _walk(conn: Connection, query: TaskQuery, parts: list[_Part],
          conditions: list[sa.ColumnElement[bool]], group: int,
          after: list[Any] | None) -> list[tuple[int, DbRow]]:
    """Up to ``limit + 1`` rows (the extra one tells that a next page exists) as
    (part, row), from part ``group`` after the key ``after`` on, skipping ``offset``."""
    rows: list[tuple[int, DbRow]] = []
    offset = query.offset
    for index in range(group, len(parts)):
        part = parts[index]
        where = [*part.where, *conditions]
        if index == group and after is not None:
            where.extend(_after(part.keys, after, query.descending))
        got = _fetch(conn, part, where, query.descending, query.limit + 1 - len(rows), offset)
        rows.extend((index, row) for row in got)
        if len(rows) > query.limit:
            break
        if offset and got:
            offset = 0
        elif offset:
            offset = max(0, offset - _count(conn, part, where))
    return rows


def _after(keys: list[sa.ColumnElement[Any]], after: list[Any],
           descending: bool) -> list[sa.ColumnElement[bool]]:
    """Rows after the key ``after`` in the part's order; the bound on the first key alone
    lets the databases walk an index from there."""
    values = [sa.literal(value, type_=key.type) for key, value in zip(keys, after, strict=True)]
    beyond, reach = (operator.lt, operator.le) if descending else (operator.gt, operator.ge)
    return [beyond(sa.tuple_(*keys), sa.tuple_(*values)), reach(keys[0], values[0])]


def _source(select: sa.Select[Any], part: _Part) -> sa.Select[Any]:
    if part.join is not None:
        select = select.select_from(part.join[0]).join(t.tasks, part.join[1])
    else:
        select = select.select_from(t.tasks)
    return select


def _fetch(conn: Connection, part: _Part, where: list[sa.ColumnElement[bool]],
           descending: bool, limit: int, offset: int) -> list[DbRow]:
    direction = sa.desc if descending else sa.asc
    select = sa.select(*TASK_COLUMNS, *(key.label(f"sort_{i}")
                                        for i, key in enumerate(part.keys)))
    select = (_source(select, part).join(t.projects, t.projects.c.id == t.tasks.c.project_id)
              .where(*where).order_by(*(direction(key) for key in part.keys)))
    return list(conn.execute(select.limit(limit).offset(offset)).all())


def _count(conn: Connection, part: _Part, where: list[sa.ColumnElement[bool]]) -> int:
    select = _source(sa.select(sa.func.count()), part).where(*where)
    return int(conn.execute(select).scalar_one())


def _conditions(conn: Connection, query: TaskQuery,
                postgres: bool) -> list[sa.ColumnElement[bool]]:
    tasks = t.tasks.c
    conditions: list[sa.ColumnElement[bool]] = []
    if query.project is not None:
        # read first: ``project_id = ?`` lets the databases walk the (project_id, created)
        # index in order, an ``IN (subquery)`` made SQLite sort the whole project
        projects = conn.execute(sa.select(t.projects.c.id).where(sa.or_(
            t.projects.c.name == query.project, t.projects.c.id == query.project))).scalars()
        conditions.append(tasks.project_id.in_(list(projects)))
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
    for tag in query.exclude_tags or []:
        conditions.append(sa.not_(_has_tag(tag, postgres)))
    return conditions

def _has_tag(tag: str, postgres: bool) -> sa.ColumnElement[bool]:
    if postgres:
        return t.tasks.c.tags.op("@>", return_type=sa.Boolean)(sa.func.jsonb_build_array(tag))
    each = sa.func.json_each(t.tasks.c.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == tag))
