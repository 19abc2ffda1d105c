"""Columns of task tables: column specs, filter expressions, keyset cursors and the
values of a page's columns (used by :mod:`.task_query`).

Column specs are parsed by :mod:`tunehouse.store.columns`. A filter is ``COLUMN OP VALUE``
(see :class:`~tunehouse.store.records.TaskQuery`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import operator
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tunehouse.errors import InvalidInput
from tunehouse.store import schema as t
from tunehouse.store.columns import (
    METRIC_PREFIX,
    PARAM_PREFIX,
    SPEC_HELP,
    Column,
    MetricColumn,
    ParamColumn,
    parse_column,
)
from tunehouse.store.records import TaskStatus, TaskType

#: Task fields a filter may name besides column specs.
PLAIN_FIELDS = ("created", "updated", "name", "status", "type", "user")
FILTER_HELP = "use COLUMN OP VALUE with OP one of = != < <= > >="
MAX_COLUMNS = 100
MAX_FILTERS = 50

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge}
_FILTER = re.compile(r"^\s*(?P<column>.+?)\s*(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$",
                     re.DOTALL)


def numeric_value(text: str) -> float | None:
    """``text`` as a finite float when it reads as one (``"1e-3"``, ``" 10"``), else None:
    what ``parameters.num_value`` holds."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def param_value(text: str, number: float | None) -> Any:
    """A parameter's value in a task table: an int or float when numeric, else the text."""
    if number is None:
        return text
    try:
        return int(text)
    except ValueError:
        return number


def parse_columns(specs: Sequence[str] | None) -> dict[str, Column]:
    """The columns of a query by their spec as given (duplicates once)."""
    if specs and len(specs) > MAX_COLUMNS:
        raise InvalidInput(f"at most {MAX_COLUMNS} columns, got {len(specs)}")
    if any("\x00" in spec for spec in specs or []):
        raise InvalidInput("invalid column: a NUL character")
    return {spec: parse_column(spec) for spec in specs or []}


# ---------------------------------------------------------------- filters
def filter_conditions(filters: Sequence[str] | None) -> list[sa.ColumnElement[bool]]:
    """The conditions on ``tasks`` of the filter expressions (see the module's docstring):
    the filters of one parameter, or of one metric, make one ``IN`` (a task has one row
    per parameter and per metric, so this is the same as one per filter, and cheaper)."""
    if filters and len(filters) > MAX_FILTERS:
        raise InvalidInput(f"at most {MAX_FILTERS} filters, got {len(filters)}")
    plain: list[sa.ColumnElement[bool]] = []
    params: dict[tuple[str, str], list[sa.ColumnElement[bool]]] = {}
    metrics: dict[tuple[str, str], list[sa.ColumnElement[bool]]] = {}
    for text in filters or []:
        if "\x00" in text:
            raise InvalidInput(f"invalid filter {text!r}: a NUL character")
        column, condition = _parse_filter(text)
        if isinstance(column, ParamColumn):
            params.setdefault((column.section, column.name), []).append(condition)
        elif isinstance(column, MetricColumn):
            metrics.setdefault((column.title, column.series), []).append(condition)
        else:
            plain.append(condition)
    p, m = t.parameters, t.metrics
    # ``id IN (matching rows)``, not a correlated EXISTS: the database walks the range of
    # the (section, name, num_value) or (title, series, value) index once, instead of
    # probing once per task of the project (100,000 probes: ~1 s on SQLite)
    return [*plain, *(
        t.tasks.c.id.in_(sa.select(p.c.task_id).where(
            p.c.section == section, p.c.name == name, *conditions))
        for (section, name), conditions in params.items()), *(
        t.tasks.c.id.in_(sa.select(m.c.task_id).where(
            m.c.title == title, m.c.series == series, *conditions))
        for (title, series), conditions in metrics.items())]


def _parse_filter(text: str) -> tuple[Column | None, sa.ColumnElement[bool]]:
    """The column a filter is on (None for a task field) and its comparison, over the
    ``parameters`` or ``metrics`` row of that column, else over ``tasks``."""
    match = _FILTER.match(text)
    if match is None or not match["value"] or match["value"][0] in "=<>!":
        raise InvalidInput(f"invalid filter {text!r}: {FILTER_HELP}")
    name, op, value = match["column"], match["op"], match["value"]
    compare = _COMPARE[op]
    if name in PLAIN_FIELDS:
        return None, compare(t.tasks.c[name], _plain_value(text, name, value))
    if not name.startswith((PARAM_PREFIX, METRIC_PREFIX)):
        raise InvalidInput(f"invalid filter {text!r}: unknown column {name!r}; use {SPEC_HELP} "
                           f"or one of {', '.join(PLAIN_FIELDS)}")
    try:
        column = parse_column(name)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid filter {text!r}: {exc.message}") from None
    number = numeric_value(value)
    if isinstance(column, ParamColumn):
        params = t.parameters.c
        return column, (compare(params.num_value, number) if number is not None
                        else compare(params.value, value))
    if number is None:
        raise InvalidInput(f"invalid filter {text!r}: a metric compares with a number, "
                           f"got {value!r}")
    return column, compare(t.metrics.c[column.field], number)


def _plain_value(text: str, name: str, value: str) -> Any:
    if name in ("created", "updated"):
        try:
            moment = datetime.fromisoformat(value)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):
            raise InvalidInput(f"invalid filter {text!r}: {name} compares with an ISO date "
                               "or time such as 2026-01-31 or 2026-01-31T12:00:00Z") from None
    known = {"status": TaskStatus, "type": TaskType}.get(name)
    if known is not None and value not in {member.value for member in known}:
        raise InvalidInput(f"invalid filter {text!r}: unknown {name} {value!r}; known: "
                           f"{', '.join(member.value for member in known)}")
    return value


# ---------------------------------------------------------------- cursors
def encode_cursor(signature: str, group: int, key: Sequence[Any]) -> str:
    """An opaque, url-safe cursor: the order it belongs to, the row's group and sort key."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    raw = json.dumps([signature, group, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, signature: str) -> tuple[int, list[Any]]:
    """(group, raw sort key) of a cursor from :func:`encode_cursor` for this order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sig, group, key = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("invalid cursor: pass the next_cursor of the previous page") from None
    if sig != signature:
        raise InvalidInput("the cursor belongs to another order: pass the next_cursor of the "
                           "previous page of this listing")
    if not isinstance(group, int) or not isinstance(key, list):
        raise InvalidInput("invalid cursor: pass the next_cursor of the previous page")
    return group, key


def key_value(column: sa.ColumnElement[Any], raw: Any) -> Any:
    """A cursor's sort key value as ``column`` compares it; ``InvalidInput`` if it can't."""
    try:
        if isinstance(column.type, t.UtcDateTime) and isinstance(raw, str):
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is not None:
                return moment.astimezone(UTC)
        elif isinstance(column.type, sa.Float):
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
        elif isinstance(raw, str) and "\x00" not in raw:
            return raw
    except (ValueError, OverflowError):
        pass
    raise InvalidInput("invalid cursor: pass the next_cursor of the previous page")


# ---------------------------------------------------------------- values
def column_values(conn: Connection, task_ids: Sequence[str],
                  columns: dict[str, Column]) -> dict[str, dict[str, Any]]:
    """task id -> {spec: value} of ``columns``: one query for the parameters, one for the
    metrics, whatever the number of tasks and columns."""
    if not task_ids or not columns:
        return {}
    found: dict[str, dict[str, Any]] = {}
    params: dict[tuple[str, str], list[str]] = {}
    metrics: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for spec, column in columns.items():
        if isinstance(column, ParamColumn):
            params.setdefault((column.section, column.name), []).append(spec)
        else:
            metrics.setdefault((column.title, column.series), []).append((spec, column.field))
    if params:
        p = t.parameters.c
        rows = conn.execute(sa.select(p.task_id, p.section, p.name, p.value, p.num_value).where(
            p.task_id.in_(task_ids),
            sa.or_(*(sa.and_(p.section == section, p.name == name)
                     for section, name in params)))).all()
        for row in rows:
            for spec in params[(row.section, row.name)]:
                found.setdefault(row.task_id, {})[spec] = param_value(row.value, row.num_value)
    if metrics:
        m = t.metrics.c
        summaries = conn.execute(sa.select(m.task_id, m.title, m.series, m.last, m.min, m.max)
                                 .where(m.task_id.in_(task_ids), sa.or_(*(
                                     sa.and_(m.title == title, m.series == series)
                                     for title, series in metrics)))).all()
        for summary in summaries:
            for spec, field in metrics[(summary.title, summary.series)]:
                value = summary._mapping[field]
                found.setdefault(summary.task_id, {})[spec] = (
                    None if value is None else float(value))
    return {task_id: {spec: values[spec] for spec in columns if spec in values}
            for task_id, values in found.items()}
