"""A project's dashboard: charts of chosen metrics across the project's tasks, pinned by
each user for themself and kept on the server (the preference ``dashboard:<project id>``
of the accounts' ``preferences`` area, :mod:`tunehouse.store.preferences`).

Two kinds of pins (:data:`~tunehouse.store.preferences.PIN_KINDS`), each a metric column
spec ``metric:<title>/<series>[:last|:min|:max]``:

* ``metric_over_time``: one point per task (x: when it was created, y: the value), with
  the running best (lower is better for ``:min`` and for ``:last`` of losses and errors,
  higher otherwise); a click opens the task;
* ``running_latest``: a bar per running task with the latest value, e.g. the resource
  monitor's ``metric::monitor:/gpu0_utilization``.

``dashboard.js`` reads the values with one call of the task listing per kind (the read
model's ``columns``) and adds or removes pins through ``PUT /preferences/{key}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from tunehouse.common.series import is_system_title
from tunehouse.server.ui.pages import Page
from tunehouse.server.ui.render import render
from tunehouse.store.preferences import (
    DASHBOARD_MAX_PINS,
    DASHBOARD_PREFIX,
    PIN_KINDS,
    DashboardPin,
)
from tunehouse.store.records import TaskQuery, TaskStatus

router = APIRouter()

KIND_LABELS = {"metric_over_time": "Metric per task over time",
               "running_latest": "Latest value of running tasks"}
#: Metric specs suggested in the form come from this many recent and running tasks.
SUGGEST_FROM = 3


@router.get("/projects/{project_id}/dashboard")
def dashboard_page(request: Request, project_id: str, who: Page) -> Response:
    """The signed-in user's pinned charts of one project, and the form to pin more."""
    project = who.store.tasks.get_project(project_id)
    key = f"{DASHBOARD_PREFIX}{project.id}"
    pins = _pins(who.accounts.preferences.get_preference(key))
    return render(request, "dashboard.html", title=f"{project.name} dashboard · tunehouse",
                  user=who.user, project=project, key=key, pins=pins,
                  kinds=[(kind, KIND_LABELS.get(kind, kind)) for kind in PIN_KINDS],
                  kind_labels=KIND_LABELS, max_pins=DASHBOARD_MAX_PINS,
                  suggestions=_suggestions(who, project.id))


def _pins(stored: Any) -> list[dict[str, Any]]:
    """The stored pins (checked when written), leaving out any that no longer check."""
    pins = []
    for pin in stored if isinstance(stored, list) else []:
        try:
            pins.append(DashboardPin.model_validate(pin).model_dump())
        except ValidationError:
            continue
    return pins


def _suggestions(who: Page, project_id: str) -> list[str]:
    """Metric specs of a few recent and running tasks of the project (resource monitor
    series as their latest value, the others as last, min and max)."""
    tasks = who.store.tasks
    recent = tasks.list_tasks(TaskQuery(project=project_id, order_by="updated",
                                        limit=SUGGEST_FROM)).tasks
    running = tasks.list_tasks(TaskQuery(project=project_id, status=[TaskStatus.in_progress],
                                         limit=SUGGEST_FROM)).tasks
    found: dict[str, None] = {}
    seen: set[str] = set()
    for task in [*running, *recent]:
        if task.id in seen:
            continue
        seen.add(task.id)
        for metric in who.store.events.get_metric_summaries(task.id):
            base = f"metric:{metric.title}/{metric.series}"
            if is_system_title(metric.title):
                found[base] = None
                continue
            for suffix in ("", ":min", ":max"):
                found[base + suffix] = None
    return list(found)[:300]
