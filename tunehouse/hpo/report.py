"""The read model of a search: everything shown of it, loaded once.

A :class:`SearchReport` holds the search's configuration, its trials ranked (the
leaderboard), the counts per state, the budget (trials made and left, time) and, on
demand, the parameters' importance (:mod:`tunehouse.hpo.importance`). The command line
(``tunehouse hpo show``, the end of ``start``/``resume``), the search page of the web UI
and :class:`~tunehouse.hpo.optimizer.HyperParameterOptimizer` all read it, so they rank,
count and judge importance the same way.

Two ways to get one:

* :func:`load_report` reads a search from the store, from any process: the controller,
  its configuration and record of its trials, the ``leaderboard`` artifact the
  controller writes (or, until it is written, the children's listing ranked the same
  way) and the children's listing (their names, and the reason each ended with as it
  stands now). Three reads in all. Only the trials the controller recorded count
  (:class:`~tunehouse.hpo.trials.TrialRecord`): another task naming the controller as
  its parent is not shown, ranked or counted.
* :func:`build_report` makes one from the live results of a running controller (what
  ``HyperParameterOptimizer.report()`` does), which are ahead of the artifact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tunehouse.errors import InvalidInput
from tunehouse.hpo.config import CONFIG_NAME, Objective, SearchConfig
from tunehouse.hpo.importance import Importance, compute_importance
from tunehouse.hpo.progress import (
    COUNTED,
    LEADERBOARD,
    UNFINISHED,
    TrialResult,
    leaderboard_rows,
    rank,
)
from tunehouse.hpo.timeline import TrialSpan, trial_spans
from tunehouse.hpo.trials import (
    PRUNED_TAG,
    TRIAL_PARAMETER,
    TRIAL_SECTION,
    TrialRecord,
    record_from,
)
from tunehouse.store.base import Store
from tunehouse.store.records import Task, TaskPage, TaskQuery, TaskStatus, TaskType

#: States of a trial that ended.
ENDED = ("completed", *UNFINISHED)
#: Children read at most.
MAX_CHILDREN = 1000
_TRIAL_COLUMN = f"param:{TRIAL_SECTION}/{TRIAL_PARAMETER}"


@dataclass(frozen=True)
class Budget:
    """What the search may still do.

    Attributes:
        total: Trials the search runs in all (``total_max_jobs``, or a grid's size).
        made: Trials made so far (every trial counts once, however often it ran).
        done: Trials that ended (completed, pruned, failed or stopped).
        elapsed_s: Seconds the controller has run (None before it started).
        time_limit_s: ``optimization_time_limit`` (None: no limit).
    """

    total: int
    made: int
    done: int
    elapsed_s: float | None
    time_limit_s: float | None

    @property
    def left(self) -> int:
        """Trials still to make."""
        return max(0, self.total - self.made)

    @property
    def percent(self) -> int:
        """Trials done, in percent of :attr:`total`."""
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @property
    def time_left_s(self) -> float | None:
        """Seconds left of the time limit (None without one)."""
        if self.time_limit_s is None:
            return None
        return max(0.0, self.time_limit_s - (self.elapsed_s or 0.0))


@dataclass(frozen=True)
class SearchReport:
    """One search as shown (see the module doc).

    Attributes:
        controller: The controller task.
        config: The search's configuration.
        trials: Every trial, best first (:func:`tunehouse.hpo.progress.rank`).
        front: Trial numbers of the Pareto front (several objectives; else empty).
        counts: Trials per state, in the order of
            :data:`~tunehouse.hpo.progress.COUNTED`.
        budget: Trials and time used and left.
        source: Where the trials were read: ``controller`` (a live search),
            ``leaderboard`` (the controller's artifact) or ``children`` (their listing,
            before the controller wrote its leaderboard).
        updated: When the leaderboard was written (``leaderboard`` only).
        names: The children's task names by task id (when read from the store).
        tasks: The children's tasks by id (when read from the store): when each was
            made, started and ended, and on which worker (:meth:`timeline`).
    """

    controller: Task
    config: SearchConfig
    trials: tuple[TrialResult, ...]
    front: tuple[int, ...]
    counts: dict[str, int]
    budget: Budget
    source: str
    updated: datetime | None = None
    names: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.config.objectives

    @property
    def complete(self) -> list[TrialResult]:
        """The complete trials, best first."""
        return [t for t in self.trials if t.state == "completed" and t.values]

    @property
    def best(self) -> TrialResult | None:
        """The best complete trial (several objectives: the first of the front)."""
        return next(iter(self.complete), None)

    @property
    def ended_trials(self) -> list[TrialResult]:
        """The pruned, stopped and failed trials, by number."""
        return sorted((t for t in self.trials if t.state in UNFINISHED),
                      key=lambda t: t.number)

    def rows(self) -> list[dict[str, Any]]:
        """The leaderboard's rows (:func:`tunehouse.hpo.progress.leaderboard_rows`)."""
        return leaderboard_rows(list(self.trials), self.objectives)

    def timeline(self) -> list[TrialSpan]:
        """When and where each trial waited and ran (:mod:`tunehouse.hpo.timeline`; empty
        without :attr:`tasks`)."""
        return trial_spans(self.trials, self.tasks)

    def importance(self) -> Importance:
        """The parameters' importance for the first objective (computed once per state
        of the search: see :mod:`tunehouse.hpo.importance`)."""
        return compute_importance(self.config.space, self.objectives[0], self.trials)


def build_report(controller: Task, config: SearchConfig, results: Sequence[TrialResult],
                 front: Sequence[int] | None = None, *, source: str = "controller",
                 updated: datetime | None = None,
                 names: dict[str, str] | None = None,
                 tasks: dict[str, Task] | None = None) -> SearchReport:
    """The report of ``results`` (any order); ``front`` None: computed from the values."""
    objectives = config.objectives
    numbers = list(front) if front is not None else pareto_front(results, objectives)
    if len(objectives) == 1:
        numbers = []
    ranked = rank(list(results), objectives, numbers)
    counts = {state: 0 for state in COUNTED}
    for result in ranked:
        counts[result.state] = counts.get(result.state, 0) + 1
    budget = Budget(total=config.planned_trials, made=len(ranked),
                    done=sum(counts.get(state, 0) for state in ENDED),
                    elapsed_s=_elapsed(controller),
                    time_limit_s=config.optimization_time_limit)
    return SearchReport(controller=controller, config=config, trials=tuple(ranked),
                        front=tuple(sorted(numbers)), counts=counts, budget=budget,
                        source=source, updated=updated, names=dict(names or {}),
                        tasks=dict(tasks or {}))


def pareto_front(results: Sequence[TrialResult], objectives: tuple[Objective, ...]
                 ) -> list[int]:
    """Numbers of the complete trials no other complete trial beats on every objective
    (one objective: the best one)."""
    complete = [r for r in results if r.state == "completed" and r.values
                and len(r.values) == len(objectives)]

    def dominates(a: TrialResult, b: TrialResult) -> bool:
        pairs = list(zip(objectives, a.values or [], b.values or [], strict=True))
        return (all(not o.better(y, x) for o, x, y in pairs)
                and any(o.better(x, y) for o, x, y in pairs))

    return sorted(r.number for r in complete
                  if not any(dominates(other, r) for other in complete if other is not r))


def search_task(store: Store, task_id: str) -> tuple[Task, SearchConfig, TrialRecord]:
    """The controller ``task_id``, its stored configuration and its record of its trials.

    Raises:
        NotFound: no such task.
        InvalidInput: the task is not an optimizer task, or has no search configuration.
    """
    task = store.tasks.get_task(task_id)
    if task.type is not TaskType.optimizer:
        raise InvalidInput(f"task {task.id} is not a search (its type is {task.type.value})")
    configurations = store.tasks.get_configurations(task.id)
    stored = {c.name: c.text for c in configurations}
    if CONFIG_NAME not in stored:
        raise InvalidInput(f"task {task.id} is not a search controller (an 'optimizer' task "
                           f"with its configuration '{CONFIG_NAME}')")
    return task, SearchConfig.from_json(stored[CONFIG_NAME]), record_from(configurations,
                                                                          task.id)


def load_report(store: Store, task_id: str) -> SearchReport:
    """The report of search ``task_id`` as the store holds it (see the module doc).

    Raises:
        NotFound: no such task.
        InvalidInput: the task is not a search controller.
    """
    controller, config, record = search_task(store, task_id)
    board = read_leaderboard(store, controller.id)
    children = list_children(store, controller.id, config, record)
    by_id = {task.id: task for task in children.tasks}
    if board is not None:
        results = results_from_board(board, config.objectives)
        front = ([int(n) for n in board.get("pareto_front") or []]
                 if config.multi_objective else [])
        updated = (datetime.fromtimestamp(board["updated"], UTC)
                   if isinstance(board.get("updated"), (int, float)) else None)
        source = "leaderboard"
    else:
        results, front, updated, source = results_from_children(config, children), None, \
            None, "children"
    # the reason each ended trial ended with, as it stands now (the controller rewrites
    # "aborted on request" after the leaderboard may have been written)
    fresh = []
    for result in results:
        if record.trials.get(result.number) != result.task_id:
            continue  # not a trial the controller made
        child = by_id.get(result.task_id)
        if (child is not None and child.status_reason
                and result.state in UNFINISHED):
            result = replace(result, reason=child.status_reason)
        fresh.append(result)
    return build_report(controller, config, fresh, front, source=source, updated=updated,
                        names={task.id: task.name for task in children.tasks}, tasks=by_id)


def read_leaderboard(store: Store, task_id: str) -> dict[str, Any] | None:
    """The controller's ``leaderboard`` document (None when not written yet)."""
    for artifact in store.artifacts.list_artifacts(task_id):
        if artifact.name == LEADERBOARD:
            data: dict[str, Any] = json.loads(b"".join(store.artifacts.open_blob(artifact.sha256)))
            return data
    return None


def results_from_board(board: dict[str, Any], objectives: tuple[Objective, ...]
                       ) -> list[TrialResult]:
    """The trials of a leaderboard document (its rows back as :class:`TrialResult`)."""
    results = []
    for row in board.get("trials") or []:
        found = [row.get("objectives", {}).get(o.label) for o in objectives]
        values = ([float(v) for v in found if isinstance(v, (int, float))]
                  if row.get("state") == "completed" else [])
        results.append(TrialResult(
            number=int(row["number"]), task_id=str(row["task_id"]), state=str(row["state"]),
            values=values if values and len(values) == len(objectives) else None,
            iteration=row.get("iteration"), parameters=dict(row.get("parameters") or {}),
            reason=str(row.get("reason") or "")))
    return results


def list_children(store: Store, task_id: str, config: SearchConfig,
                  record: TrialRecord) -> TaskPage:
    """The controller's trials (its children in ``record``) with their trial number,
    searched parameters and objectives as columns (one listing query)."""
    columns = [_TRIAL_COLUMN, *[f"param:{key}" for key in config.space.task_keys()],
               *[f"metric:{o.label}" for o in config.objectives]][:100]
    page = store.tasks.list_tasks(TaskQuery(parent_id=task_id, columns=columns,
                                            order_by="created", descending=False,
                                            limit=MAX_CHILDREN))
    own = record.task_ids
    tasks = [task for task in page.tasks if task.id in own]
    return page.model_copy(update={
        "tasks": tasks, "total": len(tasks),
        "values": {task.id: page.values.get(task.id, {}) for task in tasks}})


def child_state(task: Task, has_values: bool) -> str:
    """A child's state from its record alone (before the controller's leaderboard)."""
    if task.status is TaskStatus.completed:
        return "completed" if has_values else "failed"
    if task.status is TaskStatus.failed:
        return "failed"
    if task.status is TaskStatus.aborted:
        return "pruned" if PRUNED_TAG in task.tags else "stopped"
    return "running"


def results_from_children(config: SearchConfig, children: TaskPage) -> list[TrialResult]:
    """The trials as the children's listing shows them (those with a trial number)."""
    results = []
    keys = config.space.task_keys()
    for task in children.tasks:
        values = children.values.get(task.id, {})
        number = values.get(_TRIAL_COLUMN)
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
    return results


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
