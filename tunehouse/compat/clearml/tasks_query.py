"""``tasks.get_all``: ClearML's task listing on tunehouse's task query.

Filters the store's query has (one project, statuses, types, tags, one user, parent,
order) are pushed down; the rest (name as a regular expression, several projects or
users, ids) are checked on each task as the store's pages stream by.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from tunehouse.compat.clearml.body import Body
from tunehouse.compat.clearml.call import Call
from tunehouse.compat.clearml.envelope import bad_request
from tunehouse.compat.clearml.task_model import STATUS_FROM_CLEARML, md5, task_type, to_clearml
from tunehouse.errors import NotFound, PermissionDenied
from tunehouse.store.records import Task, TaskQuery

#: Default and largest page of ``tasks.get_all``.
PAGE_SIZE, MAX_PAGE_SIZE = 500, 5000
#: ClearML order fields → tunehouse's.
_ORDER = {"created": "created", "last_update": "updated", "last_change": "updated",
          "status_changed": "updated", "name": "name", "status": "status", "type": "type",
          "started": "created", "id": "created"}
#: ``last_metrics`` value fields → tunehouse's metric summary fields.
_METRIC_FIELDS = {"value": "last", "min_value": "min", "max_value": "max"}
#: The most tasks ``tasks.get_all`` orders by a metric.
MAX_METRIC_ORDERED = 5000
#: Fields ``tasks.get_all`` reads; others answer a 400 naming them.
_KNOWN = frozenset({
    "id", "name", "project", "status", "type", "tags", "system_tags", "user", "parent",
    "page", "page_size", "order_by", "only_fields", "search_hidden", "include_subprojects",
    "_allow_extra_fields_", "allow_public", "search_text", "size", "scroll_id",
    "refresh_scroll", "_any_", "_all_", "active_users", "archived", "method"})
#: Filters the listing cannot apply yet (a 400 naming them rather than a wrong answer).
_NOT_YET = frozenset({"search_text", "_any_", "_all_", "scroll_id", "refresh_scroll"})


def get_all(call: Call) -> dict[str, Any]:
    """``tasks.get_all``: the tasks matching the call's filters, one page."""
    body = call.body
    unknown = sorted(set(body.data) - _KNOWN)
    if unknown:
        raise bad_request(f"tasks.get_all: unknown field(s) {', '.join(unknown)}")

    unsupported = sorted(key for key in _NOT_YET if body.has(key))
    if unsupported:
        raise bad_request(f"tasks.get_all: {', '.join(unsupported)} not supported by "
                          "tunehouse yet")
    page = body.integer("page", 0) or 0
    size = body.integer("page_size") or body.integer("size") or PAGE_SIZE
    if page < 0 or not 0 < size <= MAX_PAGE_SIZE:
        raise bad_request(f"page must be >= 0 and page_size in 1..{MAX_PAGE_SIZE}")
    query, checks = _query(body)
    fields = body.texts("only_fields")
    found = []
    skip = page * size
    matching = _matching(call, body, query, checks)
    metric_order = _metric_order(body)
    if metric_order is not None:
        matching = iter(_by_metric(call, matching, *metric_order))
    for task in matching:
        if skip:
            skip -= 1
            continue
        found.append(to_clearml(call.store, task, fields))
        if len(found) >= size:
            break
    return {"tasks": found}


def _matching(call: Call, body: Body, query: TaskQuery,
              checks: list[Callable[[Task], bool]]) -> Iterator[Task]:
    ids = body.texts("id")
    if ids is not None:
        tasks = []
        for task_id in ids:
            try:
                task = call.store.tasks.get_task(task_id)
            except (NotFound, PermissionDenied):  # ClearML lists what it may read
                continue
            if _in_query(task, query):
                tasks.append(task)
        source: Iterator[Task] = iter(tasks)
    else:
        source = call.store.tasks.iter_tasks(query)
    return (task for task in source if all(check(task) for check in checks))


def _in_query(task: Task, query: TaskQuery) -> bool:
    """Whether ``task`` passes the store-side filters of ``query`` (for tasks fetched by
    id, which the store's listing did not filter)."""
    return ((query.project is None or query.project in (task.project_id, task.project))
            and (not query.status or task.status in query.status)
            and (not query.type or task.type in query.type)
            and all(tag in task.tags for tag in query.tags or [])
            and not any(tag in task.tags for tag in query.exclude_tags or [])
            and (query.user is None or task.user == query.user)
            and (query.parent_id is None or task.parent_id == query.parent_id))


def _one_or_any(values: list[str] | None, field: str, attribute: str,
                fields: dict[str, Any], checks: list[Callable[[Task], bool]]) -> None:
    """One wanted value is the store query's ``field``; several are a check that the
    task's ``attribute`` is one of them (the query takes one value)."""
    if not values:
        return
    if len(values) == 1:
        fields[field] = values[0]
    else:
        wanted = set(values)
        checks.append(lambda task: getattr(task, attribute) in wanted)


def _query(body: Body) -> tuple[TaskQuery, list[Callable[[Task], bool]]]:
    """The store query and the checks left for each task."""
    checks: list[Callable[[Task], bool]] = []
    fields: dict[str, Any] = {"limit": 200}
    _one_or_any(body.texts("project"), "project", "project_id", fields, checks)
    statuses = body.texts("status")
    if statuses:
        unknown = [s for s in statuses if s not in STATUS_FROM_CLEARML]
        if unknown:
            raise bad_request(f"tasks.get_all: status {', '.join(unknown)} not supported "
                              f"(tunehouse has {', '.join(STATUS_FROM_CLEARML)})")
        fields["status"] = sorted({STATUS_FROM_CLEARML[s] for s in statuses})
    types = body.texts("type")
    if types:
        fields["type"] = [task_type(t.lstrip("-")) for t in types if not t.startswith("-")] \
            or None
        excluded = {t[1:] for t in types if t.startswith("-")}
        if excluded:
            checks.append(lambda task: task.type.value not in excluded)
    tags = body.texts("tags") or []
    fields["tags"] = [t for t in tags if not t.startswith("-")] or None
    fields["exclude_tags"] = [t[1:] for t in tags if t.startswith("-")] or None
    _system_tags(body, fields)
    _one_or_any(body.texts("user"), "user", "user", fields, checks)
    parent = body.text("parent")
    if parent:
        fields["parent_id"] = parent
    pattern = body.pattern("name", "tasks.get_all")
    if pattern is not None:
        checks.append(lambda task: pattern.search(task.name) is not None)
    fields.update(_order(body))
    return TaskQuery(**fields), checks


def _system_tags(body: Body, fields: dict[str, Any]) -> None:
    """ClearML's ``archived`` system tag is tunehouse's ``archived`` tag; other system
    tags are not kept as tags, so filtering on them is refused."""
    for tag in body.texts("system_tags") or []:
        name = tag.lstrip("-")
        if name != "archived":
            raise bad_request(f"tasks.get_all: filtering on system tag {name!r} is not "
                              "supported by tunehouse yet")
        key = "exclude_tags" if tag.startswith("-") else "tags"
        fields[key] = [*(fields.get(key) or []), "archived"]


def _metric_order(body: Body) -> tuple[str, str, str, bool] | None:
    """``(md5 title, md5 series, summary field, descending)`` of an order on
    ``last_metrics.<title>.<series>.<value|min_value|max_value>``; None for other orders."""
    order = body.texts("order_by") or []
    if not order or not order[0].lstrip("-+").startswith("last_metrics."):
        return None
    spec = order[0]
    parts = spec.lstrip("-+").split(".")
    if len(parts) != 4 or parts[3] not in _METRIC_FIELDS:
        raise bad_request(f"tasks.get_all: order_by {spec!r} must be last_metrics.<md5 of "
                          "title>.<md5 of series>.<value|min_value|max_value>")
    return parts[1], parts[2], _METRIC_FIELDS[parts[3]], spec.startswith("-")


def _by_metric(call: Call, tasks: Iterator[Task], title: str, series: str, field: str,
               descending: bool) -> list[Task]:
    """``tasks`` ordered by a metric summary's value (read per task: an order of at most
    MAX_METRIC_ORDERED tasks); tasks without the metric last, ties by id."""
    found = list(itertools.islice(tasks, MAX_METRIC_ORDERED + 1))
    if len(found) > MAX_METRIC_ORDERED:
        raise bad_request(f"tasks.get_all: ordering by a metric reads each task's metrics: "
                          f"narrow the filter to at most {MAX_METRIC_ORDERED} tasks")

    def value(task: Task) -> float | None:
        for summary in call.store.events.get_metric_summaries(task.id):
            if md5(summary.title) == title and md5(summary.series) == series:
                number = getattr(summary, field)
                return None if number is None else float(number)
        return None

    keyed = [(value(task), task) for task in found]
    present = sorted(((v, t) for v, t in keyed if v is not None),
                     key=lambda item: (item[0], item[1].id), reverse=descending)
    return [t for _, t in present] + sorted((t for v, t in keyed if v is None),
                                            key=lambda t: t.id)


def _order(body: Body) -> dict[str, Any]:
    order = body.texts("order_by") or []
    if not order or _metric_order(body) is not None:
        return {}
    if len(order) > 1:
        order = order[:1]  # tunehouse orders by one column, ties by id
    spec = order[0]
    descending = spec.startswith("-")
    key = spec.lstrip("-+")
    if key not in _ORDER:
        raise bad_request(f"tasks.get_all: order_by {key!r} is not supported by tunehouse yet "
                          f"(supported: {', '.join(sorted(_ORDER))})")
    return {"order_by": _ORDER[key], "descending": descending}
