"""The search dashboard of a hyperparameter search's controller (a task of type
``optimizer``, see :mod:`tunehouse.hpo`).

``GET /searches/{id}`` shows the progress against the budget (trials done of
``total_max_jobs``, time), the best-so-far curve and trial counts (the controller's own
scalars, drawn by ``charts.js``), the leaderboard (the controller's ``leaderboard``
artifact; while it is not written yet, the children's listing ranked the same way),
parallel coordinates of the trials' parameters against an objective (``search.js``),
and the pruned, stopped and failed trials with their reasons. While the search runs
``search.js`` refreshes the page's data every 5 s. The parameters' importance (Optuna's
fANOVA, as ``HyperParameterOptimizer.parameter_importance``, but computed from the
stored leaderboard without running the search) comes from
``GET /searches/{id}/importance`` (JSON): its first computation in a server process
imports scikit-learn, which takes seconds, so the page does not wait for it.

**Stop** is the JSON API's abort of the controller with the reason "stopped by request"
(what ``tunehouse hpo stop`` does). **Resume** (``POST /searches/{id}/resume``) hands the
controller to a queue again, as ``tunehouse hpo start --enqueue`` does: an agent there
runs ``tunehouse hpo resume``, which rebuilds the search from the store.

The search package (and Optuna with it) is imported inside the views only.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tunehouse.errors import Conflict, InvalidInput
from tunehouse.server.ui.pages import Page, form_principal, redirect
from tunehouse.server.ui.render import render
from tunehouse.server.ui.views.search_start import CONTROLLER_QUEUE, whole
from tunehouse.store.base import Store
from tunehouse.store.records import StatusChange, Task, TaskPage, TaskQuery, TaskStatus, TaskType
from tunehouse.store.status import TERMINAL

if TYPE_CHECKING:
    from tunehouse.hpo.config import SearchConfig

router = APIRouter()

#: Children listed (and shown) at most.
MAX_CHILDREN = 1000
#: Importance needs this many complete trials (as ``HyperParameterOptimizer``'s).
MIN_FOR_IMPORTANCE = 3
NUMERIC_KINDS = ("uniform", "loguniform", "int")
ENDED_STATES = ("completed", "pruned", "failed", "stopped")

_IMPORTANCE: dict[tuple[str, str], dict[str, float]] = {}
_IMPORTANCE_LOCK = threading.Lock()
_IMPORTANCE_KEPT = 64


def search_task(store: Store, task_id: str) -> tuple[Task, SearchConfig]:
    """The controller ``task_id`` and its stored configuration.

    Raises:
        InvalidInput: the task is not an optimizer task, or has no search configuration.
    """
    from tunehouse.hpo.config import CONFIG_NAME, SearchConfig

    task = store.tasks.get_task(task_id)
    if task.type is not TaskType.optimizer:
        raise InvalidInput(f"task {task.id} is not a search (its type is {task.type.value})")
    stored = {c.name: c.text for c in store.tasks.get_configurations(task.id)}
    if CONFIG_NAME not in stored:
        raise InvalidInput(f"task {task.id} is not a search controller (an 'optimizer' task "
                           f"with its configuration '{CONFIG_NAME}')")
    return task, SearchConfig.from_json(stored[CONFIG_NAME])


def read_leaderboard(store: Store, task_id: str) -> tuple[dict[str, Any] | None, str]:
    """The controller's ``leaderboard`` document and its blob's sha256 (None, "" when it
    is not written yet)."""
    from tunehouse.hpo.progress import LEADERBOARD

    for artifact in store.artifacts.list_artifacts(task_id):
        if artifact.name == LEADERBOARD:
            data: dict[str, Any] = json.loads(b"".join(store.artifacts.open_blob(artifact.sha256)))
            return data, artifact.sha256
    return None, ""


def list_children(store: Store, task_id: str, config: SearchConfig) -> TaskPage:
    """The controller's children with their trial number, searched parameters and
    objectives as columns (one listing query)."""
    columns = ["param:hpo/trial", *[f"param:{key}" for key in config.space.task_keys()],
               *[f"metric:{o.label}" for o in config.objectives]][:100]
    return store.tasks.list_tasks(TaskQuery(parent_id=task_id, columns=columns,
                                            order_by="created", descending=False,
                                            limit=MAX_CHILDREN))


def child_state(task: Task, has_values: bool) -> str:
    """A child's state as the leaderboard names it, from its record alone."""
    if task.status is TaskStatus.completed:
        return "completed" if has_values else "failed"
    if task.status is TaskStatus.failed:
        return "failed"
    if task.status is TaskStatus.aborted:
        return "pruned" if "pruned" in task.tags else "stopped"
    return "running"


def rows_from_children(config: SearchConfig, children: TaskPage) -> list[dict[str, Any]]:
    """Leaderboard rows ranked like the controller's (``tunehouse.hpo.progress``), from
    the children's listing: shown until the controller writes its leaderboard."""
    from tunehouse.hpo.progress import TrialResult, leaderboard_rows, rank

    results = []
    keys = config.space.task_keys()
    for task in children.tasks:
        values = children.values.get(task.id, {})
        number = values.get("param:hpo/trial")
        if not isinstance(number, (int, float)):
            continue
        found = [values.get(f"metric:{o.label}") for o in config.objectives]
        numbers = [float(v) for v in found if isinstance(v, (int, float)) and math.isfinite(v)]
        state = child_state(task, len(numbers) == len(found))
        results.append(TrialResult(
            number=int(number), task_id=task.id, state=state,
            values=numbers if state == "completed" else None,
            iteration=task.last_iteration,
            parameters={key: str(values[f"param:{key}"]) for key in keys
                        if f"param:{key}" in values},
            reason=task.status_reason))
    return leaderboard_rows(rank(results, config.objectives, []), config.objectives)


def budget(config: SearchConfig) -> int:
    """How many trials the search runs (a grid search: at most its grid)."""
    if config.strategy == "grid":
        size = config.space.grid_size()
        if size is not None:
            return min(config.total_max_jobs, size)
    return config.total_max_jobs


def importance(config: SearchConfig, rows: list[dict[str, Any]], key: str
               ) -> dict[str, float]:
    """Optuna's importance (fANOVA) of each searched parameter for the first objective
    over the complete trials, largest first ({} with fewer than
    :data:`MIN_FOR_IMPORTANCE`). Built from the leaderboard's values: the ranges of the
    stored space give the numeric parameters' bounds, the others are categorical. Cached
    by ``key`` (the leaderboard's sha256)."""
    objective = config.objectives[0]
    complete = [r for r in rows if r["state"] == "completed"
                and isinstance(r["objectives"].get(objective.label), (int, float))]
    if len(complete) < MIN_FOR_IMPORTANCE:
        return {}
    cache_key = (key, objective.label)
    with _IMPORTANCE_LOCK:
        if key and cache_key in _IMPORTANCE:
            return _IMPORTANCE[cache_key]
    found = _fanova(config, complete, objective.label, objective.direction)
    with _IMPORTANCE_LOCK:
        if len(_IMPORTANCE) >= _IMPORTANCE_KEPT:
            _IMPORTANCE.pop(next(iter(_IMPORTANCE)))
        if key:
            _IMPORTANCE[cache_key] = found
    return found


def _fanova(config: SearchConfig, complete: list[dict[str, Any]], label: str,
            direction: str) -> dict[str, float]:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
    )

    distributions: dict[str, BaseDistribution] = {}
    for parameter in config.space.parameters:
        spec = parameter.to_dict()
        for name in parameter.task_keys():
            if spec["kind"] in NUMERIC_KINDS:
                distributions[name] = FloatDistribution(float(spec["min"]), float(spec["max"]),
                                                        log=spec["kind"] == "loguniform")
            else:
                seen = sorted({str(r["parameters"].get(name, "")) for r in complete})
                distributions[name] = CategoricalDistribution(seen)
    from optuna.study import StudyDirection

    study = optuna.create_study(direction=StudyDirection.MAXIMIZE if direction == "maximize"
                                else StudyDirection.MINIMIZE)
    for row in complete:
        params: dict[str, Any] = {}
        for name, distribution in distributions.items():
            text = str(row["parameters"].get(name, ""))
            if isinstance(distribution, FloatDistribution):
                try:
                    value = float(text)
                except ValueError:
                    break
                if not distribution.low <= value <= distribution.high:
                    break
                params[name] = value
            else:
                params[name] = text
        else:
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=distributions, value=row["objectives"][label]))
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial alike
        return {}


def _elapsed(task: Task) -> float | None:
    if task.started is None:
        return None
    end = task.completed or datetime.now(UTC)
    start = task.started
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return max(0.0, (end - start).total_seconds())


def problems(rows: list[dict[str, Any]], children: TaskPage) -> list[dict[str, Any]]:
    """The pruned, stopped and failed trials with their reason (the child's status reason,
    else the leaderboard's)."""
    by_id = {task.id: task for task in children.tasks}
    found = []
    for row in sorted(rows, key=lambda r: r["number"]):
        if row["state"] not in ("pruned", "failed", "stopped"):
            continue
        child = by_id.get(row["task_id"])
        reason = (child.status_reason if child is not None and child.status_reason
                  else row.get("reason") or "")
        found.append({**row, "reason": reason})
    return found


def dashboard(store: Store, task_id: str) -> dict[str, Any]:
    """Everything the dashboard shows (see the module doc)."""
    controller, config = search_task(store, task_id)
    board, _ = read_leaderboard(store, controller.id)
    children = list_children(store, controller.id, config)
    rows = board["trials"] if board is not None else rows_from_children(config, children)
    names = {task.id: task.name for task in children.tasks}
    counts = {state: 0 for state in ("completed", "running", *ENDED_STATES[1:])}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    labels = [o.label for o in config.objectives]
    done = sum(counts[state] for state in ENDED_STATES)
    total = budget(config)
    return {
        "controller": controller, "config": config, "rows": rows, "names": names,
        "labels": labels, "counts": counts, "done": done, "budget": total,
        "percent": min(100, round(100 * done / total)) if total else 0,
        "elapsed": _elapsed(controller), "from_children": board is None,
        "updated": (datetime.fromtimestamp(board["updated"], UTC)
                    if board is not None and board.get("updated") else None),
        "param_names": sorted({name for row in rows for name in row["parameters"]}),
        "problems": problems(rows, children),
        "complete": counts["completed"],
        "running": controller.status in (TaskStatus.queued, TaskStatus.in_progress),
        "data": {"objectives": [{"label": o.label, "sign": o.sign}
                                for o in config.objectives],
                 "complete": counts["completed"],
                 "trials": [{key: row[key] for key in (
                     "number", "task_id", "state", "objectives", "parameters", "rank")}
                     for row in rows]},
    }


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
    (apart from the page: the first computation loads scikit-learn, which takes seconds).
    ``importance`` is ``[[name, value], ...]``, largest first; empty with ``note`` saying
    why."""
    store = who.store
    controller, config = search_task(store, task_id)
    board, sha = read_leaderboard(store, controller.id)
    rows = (board["trials"] if board is not None
            else rows_from_children(config, list_children(store, controller.id, config)))
    complete = sum(row["state"] == "completed" for row in rows)
    found = importance(config, rows, sha)
    note = ""
    if complete < MIN_FOR_IMPORTANCE:
        note = (f"needs at least {MIN_FOR_IMPORTANCE} complete trials "
                f"({complete} so far)")
    elif not found:
        note = "not computable: the complete trials do not vary enough"
    return JSONResponse({"objective": config.objectives[0].label, "complete": complete,
                         "importance": [[name, float(value)] for name, value in found.items()],
                         "note": note})


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

        search = HyperParameterOptimizer.resume(task_id, store=who.store, settings=settings,
                                                total_max_jobs=total)
        controller = who.store.tasks.get_task(task_id)
        if controller.status is TaskStatus.queued:
            raise Conflict(f"the search {controller.id} is already queued in "
                           f"{controller.queue!r}")
        if controller.status in TERMINAL:  # as a resume in a process does (_take_over)
            who.store.tasks.change_status(controller.id, StatusChange(
                status=TaskStatus.created, reason="resumed", force=True))
        # in_progress here: its process is gone (resume() refuses a live one)
        return search.enqueue(queue)

    controller = await run_in_threadpool(resume)
    return redirect(f"/searches/{controller.id}")
