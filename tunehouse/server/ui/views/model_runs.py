"""What made each version of a model, for the models page's *Versions* table: the task
that registered it (name and link), the parameters that set the versions' tasks apart
(all of them when there is one task) and the last value of each training metric, so a
user can choose the version to promote.

One read of the task, its parameters and its metric summaries per distinct task; a task
the user may not read (or one deleted) shows its id alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tunehouse.common.series import is_resource_title
from tunehouse.errors import TunehouseError
from tunehouse.server.ui.views.compare import finite, param_rows
from tunehouse.store.base import Store
from tunehouse.store.records import MetricSummary, Model, Parameter, Task

#: At most this many parameter and metric columns.
MAX_PARAMS = 10
MAX_METRICS = 8


@dataclass
class VersionRun:
    """The run behind one version: its task (None when unreadable), and its values of the
    table's parameter and metric columns (None where it has none)."""

    task: Task | None
    params: list[str | None] = field(default_factory=list)
    metrics: list[float | None] = field(default_factory=list)


@dataclass
class RunTable:
    """Columns (``section/name`` and ``title/series``) and each version's run, by version."""

    param_keys: list[str]
    metric_keys: list[str]
    runs: dict[int, VersionRun]


def run_table(store: Store, versions: list[Model]) -> RunTable:
    """The runs behind ``versions`` (see the module doc)."""
    read: dict[str, tuple[Task, list[Parameter], list[MetricSummary]] | None] = {}
    for model in versions:
        if model.task_id and model.task_id not in read:
            read[model.task_id] = _read(store, model.task_id)
    found = [entry for entry in read.values() if entry is not None]
    rows = param_rows([params for _, params, _ in found])
    if len(found) > 1:
        rows = [row for row in rows if row.differs]
    param_keys = [row.key for row in rows][:MAX_PARAMS]
    metric_keys = sorted({f"{m.title}/{m.series}" for _, _, metrics in found for m in metrics
                          if not is_resource_title(m.title)})[:MAX_METRICS]
    runs = {}
    for model in versions:
        entry = read.get(model.task_id) if model.task_id else None
        if entry is None:
            runs[model.version] = VersionRun(None)
            continue
        task, params, metrics = entry
        values = {f"{p.section}/{p.name}": p.value for p in params}
        lasts = {f"{m.title}/{m.series}": finite(m.last) for m in metrics}
        runs[model.version] = VersionRun(task, [values.get(key) for key in param_keys],
                                         [lasts.get(key) for key in metric_keys])
    return RunTable(param_keys, metric_keys, runs)


def _read(store: Store, task_id: str) -> tuple[Task, list[Parameter], list[MetricSummary]] | None:
    try:
        return (store.tasks.get_task(task_id), store.tasks.get_parameters(task_id),
                store.events.get_metric_summaries(task_id))
    except TunehouseError:
        return None
