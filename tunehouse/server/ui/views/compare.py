"""The compare page: 2 to 50 tasks side by side.

``GET /compare?ids=a,b,c`` shows the tasks' curves overlaid per metric (``charts.js``, with
the x axis, smoothing and log scale controls), a parameter table whose rows are the union
of every task's ``section/name`` (cells that differ across the tasks are highlighted), a
metric table (last, min and max of each title/series per task), parallel coordinates of
the numeric parameters against an objective, and a scatter of any parameter against any
metric. The last two are drawn by ``compare.js`` from a JSON block of the page.

The page reads three records per task (the task, its parameters, its metric summaries),
whatever the number of parameters or metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tunehouse.errors import InvalidInput
from tunehouse.server.ui.pages import Page
from tunehouse.server.ui.render import render
from tunehouse.store.records import MetricSummary, Parameter, Task, TaskStatus

router = APIRouter()

#: How many tasks one comparison takes.
MIN_TASKS, MAX_TASKS = 2, 50
FIELDS = ("last", "min", "max")


@dataclass
class ParamRow:
    """One ``section/name`` across the tasks (``None`` where a task lacks it)."""

    key: str
    values: list[str | None]
    differs: bool


@dataclass
class MetricRow:
    """One title/series and summary field (last, min or max) across the tasks."""

    title: str
    series: str
    field: str
    values: list[float | None]
    differs: bool


def parse_ids(ids: str) -> list[str]:
    """The task ids of ``ids`` (comma-separated, duplicates dropped, order kept).

    Raises:
        InvalidInput: fewer than :data:`MIN_TASKS` or more than :data:`MAX_TASKS`.
    """
    found = list(dict.fromkeys(part.strip() for part in ids.split(",") if part.strip()))
    if not MIN_TASKS <= len(found) <= MAX_TASKS:
        raise InvalidInput(f"compare takes {MIN_TASKS} to {MAX_TASKS} tasks; "
                           f"{len(found)} given (ids=a,b,...)")
    return found


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


def param_rows(params: list[list[Parameter]]) -> list[ParamRow]:
    """Rows of the parameter table: every ``section/name`` of any task, sorted."""
    by_task = [{f"{p.section}/{p.name}": p.value for p in found} for found in params]
    keys = sorted({key for values in by_task for key in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in by_task]
        rows.append(ParamRow(key, values, len(set(values)) > 1))
    return rows


def metric_rows(summaries: list[list[MetricSummary]]) -> list[MetricRow]:
    """Rows of the metric table: last, min and max of every title/series of any task."""
    by_task = [{(s.title, s.series): s for s in found} for found in summaries]
    keys = sorted({key for values in by_task for key in values})
    rows = []
    for title, series in keys:
        for field in FIELDS:
            values = [finite(getattr(values[(title, series)], field))
                      if (title, series) in values else None for values in by_task]
            rows.append(MetricRow(title, series, field, values, len(set(values)) > 1))
    return rows


def chart_data(tasks: list[Task], params: list[list[Parameter]],
               summaries: list[list[MetricSummary]]) -> dict[str, Any]:
    """What ``compare.js`` draws the parallel coordinates and the scatter from."""
    return {"tasks": [{
        "id": task.id, "name": task.name, "status": task.status.value,
        "params": {f"{p.section}/{p.name}": p.value for p in found},
        "metrics": {f"{s.title}/{s.series}": {field: finite(getattr(s, field))
                                              for field in FIELDS} for s in metrics},
    } for task, found, metrics in zip(tasks, params, summaries, strict=True)]}


@router.get("/compare")
def compare_page(request: Request, who: Page, ids: str = "") -> Response:
    """The tasks of ``ids`` compared (see the module doc)."""
    wanted = parse_ids(ids)
    store = who.store
    tasks = [store.tasks.get_task(task_id) for task_id in wanted]
    params = [store.tasks.get_parameters(task.id) for task in tasks]
    summaries = [store.events.get_metric_summaries(task.id) for task in tasks]
    return render(
        request, "compare.html", title=f"Compare {len(tasks)} tasks · tunehouse",
        user=who.user, tasks=tasks, params=param_rows(params),
        metrics=metric_rows(summaries), data=chart_data(tasks, params, summaries),
        live=any(task.status in (TaskStatus.queued, TaskStatus.in_progress) for task in tasks),
        chart_ids=",".join(task.id for task in tasks),
        # charts.js splits the names at commas
        chart_names=",".join(task.name.replace(",", ";") for task in tasks))
