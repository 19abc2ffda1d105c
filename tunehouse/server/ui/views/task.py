"""The task page: overview, parameters, configuration objects, code, environment,
console, scalars, artifacts and models, each a tab.

The record parts are rendered here; the console (live tail) and the scalar charts
(live refresh, downsampled by the server) are loaded by ``console.js`` and
``charts.js`` from the JSON API. Editing (comment, parameters of a draft, clone,
enqueue) is done by ``task.js`` through the JSON API as well.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer
from starlette.responses import Response

from tunehouse.common.series import is_resource_title
from tunehouse.server.ui.pages import Page
from tunehouse.server.ui.render import render
from tunehouse.store.records import Parameter, TaskStatus, TaskType

router = APIRouter()

#: Text artifacts up to this size are shown inline.
PREVIEW_MAX = 64 * 1024
PREVIEW_TYPES = ("text/", "application/json", "application/x-yaml")
#: Artifacts of this kind describe an input dataset (``Task.add_input_dataset``).
DATASET_KIND = "input-dataset"


@dataclass
class ParamGroup:
    """Parameters of one section sharing a dotted prefix (``model`` for ``model.lr``)."""

    section: str
    prefix: str
    params: list[Parameter]


def group_parameters(params: list[Parameter]) -> list[ParamGroup]:
    """Parameters grouped by section, then by the dotted prefix of their names."""
    groups: dict[tuple[str, str], list[Parameter]] = defaultdict(list)
    for param in params:
        prefix = param.name.rpartition(".")[0]
        groups[(param.section, prefix)].append(param)
    return [ParamGroup(section, prefix, items)
            for (section, prefix), items in sorted(groups.items())]


def diff_html(diff: str) -> Markup:
    """The uncommitted diff with syntax colours (inline styles: no stylesheet needed)."""
    if not diff:
        return Markup("")
    formatter = HtmlFormatter(noclasses=True, nowrap=False, style="friendly")
    return Markup(highlight(diff, DiffLexer(), formatter))


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: str, who: Page) -> Response:
    """Everything recorded about one task."""
    store = who.store
    task = store.tasks.get_task(task_id)
    parent = store.tasks.get_task(task.parent_id) if task.parent_id else None
    artifacts = store.artifacts.list_artifacts(task.id)
    datasets = [a for a in artifacts if a.kind == DATASET_KIND]
    shown = [a for a in artifacts if a.kind != DATASET_KIND]
    metrics = store.events.get_metric_summaries(task.id)
    script = store.tasks.get_script(task.id)
    environment = store.tasks.get_environment(task.id)
    params = store.tasks.get_parameters(task.id)
    return render(
        request, "task.html", title=f"{task.name} · tunehouse", user=who.user, task=task,
        parent=parent, params=params, groups=group_parameters(params),
        draft=task.status == TaskStatus.created,
        configurations=store.tasks.get_configurations(task.id), script=script,
        diff=diff_html(script.diff), environment=environment, metrics=metrics,
        objectives=[m for m in metrics if not is_resource_title(m.title)],
        artifacts=shown, previews=_previews(who, shown), datasets=datasets,
        models=store.models.list_models(task_id=task.id),
        queues=[queue.name for queue in store.queues.list_queues()],
        is_search=task.type == TaskType.optimizer,
        running=task.status in (TaskStatus.in_progress, TaskStatus.queued))


def _previews(who: Page, artifacts: list[Any]) -> dict[str, str]:
    """Small text-like artifacts' content, by name."""
    previews = {}
    for artifact in artifacts:
        if artifact.size > PREVIEW_MAX or not artifact.content_type.startswith(PREVIEW_TYPES):
            continue
        data = b"".join(who.store.artifacts.open_blob(artifact.sha256))
        previews[artifact.name] = data.decode("utf-8", errors="replace")
    return previews
