"""Starting a hyperparameter search from a task: ``GET /tasks/{id}/search`` is the form,
``POST /tasks/{id}/search`` creates the search exactly as ``tunehouse hpo start ...
--queue Q --enqueue services`` does (``HyperParameterOptimizer(...).enqueue(queue)``, as
the signed-in user) and goes to its dashboard.

A bad space or option shows the form again (422) with the message the command line
gives for it (the :class:`~tunehouse.errors.InvalidInput` of
:func:`tunehouse.hpo.space.parse_space` or ``HyperParameterOptimizer``). Form posts carry
the session's CSRF token in the field ``csrf`` (a form cannot send the header the JSON
API checks): :func:`~tunehouse.server.ui.pages.form_principal`.

The search package (and Optuna with it) is imported inside the views only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from tunehouse.common.series import is_resource_title
from tunehouse.errors import InvalidInput
from tunehouse.server.auth import Principal
from tunehouse.server.ui.pages import Page, form_principal, redirect
from tunehouse.server.ui.render import render
from tunehouse.store.records import MetricSummary, Task

router = APIRouter()

#: The default queue of the controller (``--enqueue services``) and of the trials.
CONTROLLER_QUEUE = "services"
TRIALS_QUEUE = "default"
STRATEGIES = ("bohb", "tpe", "random", "grid")
EARLY_STOPPING = ("", "hyperband", "asha", "median", "none")
#: Optional whole-number fields: form name -> label.
LIMITS = {"min_iteration": "min iteration", "max_iteration": "max iteration",
          "max_failed": "max failed trials", "seed": "seed"}
#: Optional seconds fields: form name -> label.
SECONDS = {"trial_time_limit": "trial time limit", "time_limit": "search time limit"}


def whole(text: str, label: str) -> int | None:
    """The whole number of a form field (None when blank)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{label} must be a whole number, not {text!r}") from None


def seconds(text: str, label: str) -> float | None:
    """The number of seconds of a form field (None when blank)."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{label} must be a number of seconds, not {text!r}") from None


@dataclass
class SearchForm:
    """The form's fields as text (shown again after a refusal)."""

    space: str = ""
    objective: str = ""
    custom_objective: str = ""
    sign: str = "max"
    strategy: str = "bohb"
    early_stopping: str = ""
    max_trials: str = "20"
    concurrency: str = "2"
    queue: str = TRIALS_QUEUE
    controller_queue: str = CONTROLLER_QUEUE
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, form: FormData) -> SearchForm:
        def text(name: str, default: str = "") -> str:
            return str(form.get(name, default))

        return cls(space=text("space"), objective=text("objective"),
                   custom_objective=text("custom_objective").strip(),
                   sign=text("sign", "max"), strategy=text("strategy", "bohb"),
                   early_stopping=text("early_stopping"), max_trials=text("max_trials"),
                   concurrency=text("concurrency"),
                   queue=text("queue").strip() or TRIALS_QUEUE,
                   controller_queue=text("controller_queue").strip() or CONTROLLER_QUEUE,
                   name=text("name").strip(),
                   extra={key: text(key) for key in (*LIMITS, *SECONDS)})

    def chosen_objective(self) -> tuple[str, str]:
        """``(title, series)`` of the typed objective, else of the chosen one."""
        if self.custom_objective:
            title, slash, series = self.custom_objective.rpartition("/")
            if not slash or not title or not series:
                raise InvalidInput(f"objective {self.custom_objective!r}: write TITLE/SERIES, "
                                   f"e.g. accuracy/validation")
            return title, series
        try:
            title, series = json.loads(self.objective)
            return str(title), str(series)
        except (ValueError, TypeError):
            raise InvalidInput("choose the objective (or type it as TITLE/SERIES)") from None

    def arguments(self) -> dict[str, Any]:
        """``HyperParameterOptimizer``'s keyword arguments but the space and objective."""
        limits = {key: whole(self.extra.get(key, ""), label) for key, label in LIMITS.items()}
        times = {key: seconds(self.extra.get(key, ""), label)
                 for key, label in SECONDS.items()}
        concurrency = whole(self.concurrency, "concurrency")
        total = whole(self.max_trials, "max trials")
        return {
            "strategy": self.strategy, "early_stopping": self.early_stopping or None,
            "max_number_of_concurrent_tasks": 2 if concurrency is None else concurrency,
            "execution_queue": self.queue,
            "total_max_jobs": 20 if total is None else total,
            "min_iteration_per_job": limits["min_iteration"],
            "max_iteration_per_job": limits["max_iteration"],
            "max_failed_jobs": limits["max_failed"], "seed": limits["seed"],
            "time_limit_per_job": times["trial_time_limit"],
            "optimization_time_limit": times["time_limit"],
            "name": self.name or None,
        }


def objective_options(metrics: list[MetricSummary]) -> list[tuple[str, str]]:
    """``(value, label)`` of each metric that may be an objective."""
    return [(json.dumps([m.title, m.series]), f"{m.title}/{m.series}") for m in metrics
            if not is_resource_title(m.title)]


#: Words of a series measured on held-out data (``validation``, ``val_accuracy``, ``test``).
HELD_OUT = ("validation", "val", "valid", "test", "eval")


def held_out(metric: MetricSummary) -> bool:
    """Whether the metric is measured on held-out data: its series (or title) is
    ``validation``/``val``/..., or starts with ``val_``/``validation_`` (Keras's
    ``val_accuracy``)."""
    for name in (metric.series.lower(), metric.title.lower()):
        words = name.replace("-", "_").replace("/", "_").split("_")
        if words[0] in HELD_OUT:
            return True
    return False


def minimised(label: str) -> bool:
    """Whether an objective named ``label`` is minimised: it names a loss or an error."""
    return any(word in label.lower() for word in ("loss", "error"))


def default_form(metrics: list[MetricSummary]) -> SearchForm:
    """The form's first values: the first metric measured on held-out data
    (:func:`held_out`; else the first objective-like metric), minimised when it looks
    like a loss or an error (:func:`minimised`), else maximised."""
    options = objective_options(metrics)
    form = SearchForm()
    if options:
        candidates = [m for m in metrics if not is_resource_title(m.title)]
        validation = [m for m in candidates if held_out(m)]
        # a quality (accuracy, ...) measured on held-out data before its loss: the
        # objective a researcher means; a loss when it is all there is
        chosen = next((m for m in validation if not minimised(f"{m.title}/{m.series}")),
                      next(iter(validation), candidates[0]))
        form.objective = json.dumps([chosen.title, chosen.series])
        form.sign = "min" if minimised(f"{chosen.title}/{chosen.series}") else "max"
    return form


def _form_page(request: Request, who: Principal, task: Task, form: SearchForm,
               error: str = "", status: int = 200) -> Response:
    store = who.store
    metrics = store.events.get_metric_summaries(task.id)
    queues = sorted({q.name for q in store.queues.list_queues()}
                    | {TRIALS_QUEUE, CONTROLLER_QUEUE, form.queue, form.controller_queue})
    return render(request, "search_start.html", status=status,
                  title=f"Search over {task.name} · tunehouse", user=who.user, task=task,
                  form=form, error=error, objectives=objective_options(metrics),
                  params=store.tasks.get_parameters(task.id), queues=queues,
                  strategies=STRATEGIES, early_stopping=EARLY_STOPPING)


@router.get("/tasks/{task_id}/search")
def search_form(request: Request, task_id: str, who: Page) -> Response:
    """The form that starts a search over clones of task ``task_id``."""
    task = who.store.tasks.get_task(task_id)
    form = default_form(who.store.events.get_metric_summaries(task.id))
    return _form_page(request, who, task, form)


@router.post("/tasks/{task_id}/search")
async def search_submit(request: Request, task_id: str) -> Response:
    """Create the search and hand its controller to the controller queue; the form again
    (422) with the reason when the space or an option is refused."""
    who, posted = await form_principal(request)
    form = SearchForm.of(posted)
    settings = request.app.state.settings

    def start() -> Task:
        from tunehouse.hpo.optimizer import HyperParameterOptimizer
        from tunehouse.hpo.space import parse_space

        base = who.store.tasks.get_task(task_id)
        space = parse_space(form.space)
        title, series = form.chosen_objective()
        search = HyperParameterOptimizer(base.id, space, title, series, form.sign,
                                         store=who.store, settings=settings,
                                         **form.arguments())
        return search.enqueue(form.controller_queue)

    try:
        controller = await run_in_threadpool(start)
    except InvalidInput as exc:
        task = await run_in_threadpool(who.store.tasks.get_task, task_id)
        return await run_in_threadpool(_form_page, request, who, task, form, exc.message, 422)
    return redirect(f"/searches/{controller.id}")
