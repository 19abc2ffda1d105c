"""What a project's tasks recorded, offered by the pages that take a column spec (the
experiment table's columns and filters, a dashboard's pins) so that the user picks a
metric or a parameter instead of writing ``metric:<title>/<series>:max``; typing the spec
stays possible.

:func:`column_choices` reads the metrics and parameters of a bounded number of the
project's tasks (the running ones and the most recently updated: a constant number of
reads, whatever the project's size); ``column_picker.js`` turns them into selects that
fill the spec's text field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunehouse.common.series import is_resource_title
from tunehouse.store.records import TaskQuery, TaskStatus

if TYPE_CHECKING:
    from tunehouse.server.auth import Principal

#: The choices come from this many running and this many recently updated tasks.
CHOICES_FROM = 10
#: At most this many choices of each kind.
MAX_CHOICES = 300


def column_choices(who: Principal, project_id: str, *, params: bool = True
                   ) -> dict[str, list[str]]:
    """The project's recorded ``metrics`` and ``resources`` (``title/series``, resource
    monitor and speed series apart) and, with ``params``, its ``params``
    (``Section/name``), each sorted, from a few of its tasks (see the module doc)."""
    tasks = who.store.tasks
    running = tasks.list_tasks(TaskQuery(project=project_id, status=[TaskStatus.in_progress],
                                         limit=CHOICES_FROM)).tasks
    recent = tasks.list_tasks(TaskQuery(project=project_id, order_by="updated",
                                        limit=CHOICES_FROM)).tasks
    found: dict[str, set[str]] = {"metrics": set(), "resources": set(), "params": set()}
    for task_id in dict.fromkeys(task.id for task in [*running, *recent]):
        for metric in who.store.events.get_metric_summaries(task_id):
            kind = "resources" if is_resource_title(metric.title) else "metrics"
            found[kind].add(f"{metric.title}/{metric.series}")
        if params:
            found["params"].update(f"{p.section}/{p.name}" for p in tasks.get_parameters(task_id))
    return {kind: sorted(names)[:MAX_CHOICES] for kind, names in found.items()
            if params or kind != "params"}
