"""The search dashboard of a hyperparameter search's controller (a task of type
``optimizer``, see :mod:`tunehouse.hpo`).

Everything it shows comes from the search's report (:func:`tunehouse.hpo.report.load_report`,
the same read model ``tunehouse hpo show`` prints): ``GET /searches/{id}`` shows the
progress against the budget (trials done of ``total_max_jobs``, time), the leaderboard
(the controller's ``leaderboard`` artifact; while it is not written yet, the children's
listing ranked the same way), the pruned, stopped and failed trials with their reasons,
and the data of the parallel coordinates (``search.js``); the best-so-far curve and trial
counts are the controller's own scalars (``charts.js``). While the search runs, the page
refreshes its live part every 5 s. The parameters' importance (the report's: fANOVA with
a fixed seed, the figures the command line prints, with the number of trials they rest
on and whether that is enough) comes from ``GET /searches/{id}/importance`` (JSON): its
first computation in a server process imports scikit-learn, which takes seconds, so the
page does not wait for it. Computed importances are cached in the process (bounded; see
:mod:`tunehouse.hpo.importance`).

**Stop** is the JSON API's abort of the controller with the reason "stopped by request"
(what ``tunehouse hpo stop`` does). **Resume** (``POST /searches/{id}/resume``) hands the
controller to a queue again (``HyperParameterOptimizer.enqueue``, as ``tunehouse hpo
start --enqueue`` does): an agent there runs ``tunehouse hpo resume``, which rebuilds the
search from the store.

The search package (and Optuna with it) is imported inside the views only.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tunehouse.server.ui.pages import Page, form_principal, redirect
from tunehouse.server.ui.render import render
from tunehouse.server.ui.views.search_start import CONTROLLER_QUEUE, whole
from tunehouse.store.base import Store
from tunehouse.store.records import Task, TaskStatus
from tunehouse.store.status import TERMINAL

if TYPE_CHECKING:
    from tunehouse.hpo.report import SearchReport

router = APIRouter()


def dashboard(store: Store, task_id: str) -> dict[str, Any]:
    """Everything the dashboard shows (see the module doc), from the search's report."""
    from tunehouse.hpo.report import load_report
    from tunehouse.hpo.timeline import epoch_seconds

    report: SearchReport = load_report(store, task_id)
    rows = report.rows()
    by_number = {row["number"]: row for row in rows}
    controller = report.controller
    return {
        "controller": controller, "config": report.config, "report": report, "rows": rows,
        "names": report.names, "labels": [o.label for o in report.objectives],
        "counts": report.counts, "budget": report.budget,
        "from_children": report.source == "children", "updated": report.updated,
        "param_names": sorted({name for row in rows for name in row["parameters"]}),
        "problems": [by_number[t.number] for t in report.ended_trials],
        "running": controller.status in (TaskStatus.queued, TaskStatus.in_progress),
        "trials_url": trials_table_url(report),
        "data": {"objectives": [{"label": o.label, "sign": o.sign}
                                for o in report.objectives],
                 "complete": report.counts["completed"],
                 "running": controller.status in (TaskStatus.queued, TaskStatus.in_progress),
                 "now": time.time(), "origin": epoch_seconds(controller.started),
                 "timeline": [asdict(span) for span in report.timeline()],
                 "trials": [{key: row[key] for key in (
                     "number", "task_id", "state", "objectives", "parameters", "rank")}
                     for row in rows]},
    }


def trials_table_url(report: SearchReport) -> str:
    """The experiment table of the search's project filtered to its trials (the
    controller's children), with the objectives and the searched parameters as columns,
    best first by the first objective."""
    first = report.objectives[0]
    columns = [f"metric:{o.label}" for o in report.objectives] + [
        f"param:{key}" for key in report.config.space.task_keys()]
    pairs = [("parent", report.controller.id), *[("col", c) for c in columns],
             ("order", f"metric:{first.label}")]
    if first.sign == "min":
        pairs.append(("asc", "1"))
    return f"/projects/{report.controller.project_id}/tasks?{urlencode(pairs)}"


@router.get("/searches/{task_id}")
def search_page(request: Request, task_id: str, who: Page) -> Response:
    """The dashboard of search ``task_id`` (see the module doc)."""
    view = dashboard(who.store, task_id)
    controller = view["controller"]
    queues = sorted({queue.name for queue in who.store.queues.list_queues()} | {
        CONTROLLER_QUEUE})
    return render(request, "search.html", title=f"{controller.name} · tunehouse",
                  user=who.user, view=view, queues=queues,
                  can_stop=view["running"] and not controller.abort_requested,
                  can_resume=controller.status in TERMINAL or
                  controller.status is TaskStatus.created)


@router.get("/searches/{task_id}/importance")
def importance_data(task_id: str, who: Page) -> JSONResponse:
    """The parameters' importance for the first objective, as JSON for ``search.js``
    (apart from the page: the first computation loads scikit-learn, which takes seconds):
    :meth:`tunehouse.hpo.importance.Importance.to_dict` plus ``complete``, the search's
    complete trials."""
    from tunehouse.hpo.report import load_report

    report = load_report(who.store, task_id)
    return JSONResponse({**report.importance().to_dict(),
                         "complete": report.counts["completed"]})


@router.post("/searches/{task_id}/resume")
async def resume_submit(request: Request, task_id: str) -> Response:
    """Hand the controller to the form's queue again (with an optional new budget): an
    agent there resumes the search from the store."""
    who, form = await form_principal(request)
    queue = str(form.get("queue", "")).strip() or CONTROLLER_QUEUE
    total = whole(str(form.get("max_trials", "")), "max trials")
    settings = request.app.state.settings

    def resume() -> Task:
        from tunehouse.hpo.optimizer import HyperParameterOptimizer

        # resume() refuses a controller whose process still runs; enqueue() refuses a
        # queued one and resets an ended one, as a resume in a process does
        search = HyperParameterOptimizer.resume(task_id, store=who.store, settings=settings,
                                                total_max_jobs=total)
        return search.enqueue(queue)

    controller = await run_in_threadpool(resume)
    return redirect(f"/searches/{controller.id}")
