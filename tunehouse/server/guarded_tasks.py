"""The guarded ``tasks`` and ``events`` areas (see :mod:`tunehouse.server.guarded`).

Reading a task or anything it recorded needs ``viewer`` on its project, changing it
``editor``, deleting it ``owner``. Creating a project is open to every user, who then owns
it; creating a task in an existing project needs ``editor`` there. Naming a parent (a new
task's or a clone's ``parent_id``) changes the parent too, whose children are what a
search counts among its trials: it needs ``editor`` on the parent's project. Listings
leave out the projects the user may not read.
"""

from __future__ import annotations

from collections.abc import Iterable

from tunehouse.server.guarded_checks import Guard
from tunehouse.server.permissions import Role
from tunehouse.store.interfaces import EventStore, TaskStore
from tunehouse.store.records import (
    LOST_AFTER_S,
    BatchResult,
    Configuration,
    Environment,
    EventBatch,
    LogLine,
    MetricSummary,
    Parameter,
    Project,
    Script,
    SeriesData,
    StatusChange,
    Task,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskStatus,
    TaskUpdate,
)
from tunehouse.store.sql.tasks import SqlTaskStore

V, E, OWNER = Role.viewer, Role.editor, Role.owner


class GuardedTaskStore(TaskStore):
    """:class:`~tunehouse.store.interfaces.TaskStore` checked by ``guard``, then done by
    ``inner``."""

    def __init__(self, guard: Guard, inner: SqlTaskStore) -> None:
        self._guard = guard
        self._inner = inner

    # ------------------------------------------------------------ projects
    def get_or_create_project(self, name: str, description: str = "") -> Project:
        self._guard.project_or_new(name, V, "open the project")
        return self._inner.get_or_create_project(name, description)

    def get_project(self, name_or_id: str) -> Project:
        self._guard.project(name_or_id, V, "read the project")
        return self._inner.get_project(name_or_id)

    def list_projects(self) -> list[Project]:
        readable = self._guard.readable()
        projects = self._inner.list_projects()
        if readable is None:
            return projects
        return [project for project in projects if project.id in readable]

    # ------------------------------------------------------------ tasks
    def create_task(self, spec: TaskCreate) -> Task:
        guard = self._guard
        if not guard.user.admin:
            if spec.parent_id is not None:
                self._check_parent(spec.parent_id)
            guard.project_or_new(spec.project, E, f"create task {spec.name!r}")
        return self._inner.create_task(spec)

    def _check_parent(self, parent_id: str) -> None:
        """403 unless the user may change task ``parent_id`` (``editor`` on its project): a
        child is part of its parent (a search's trials are its children), so a viewer
        cannot hang tasks of their own under someone else's."""
        self._guard.task(parent_id, E, "make a child of")

    def get_task(self, task_id: str) -> Task:
        self._guard.task(task_id, V, "read")
        return self._inner.get_task(task_id)

    def list_tasks(self, query: TaskQuery) -> TaskPage:
        readable = self._guard.readable()
        if readable is None:
            return self._inner.list_tasks(query)
        return self._inner.list_tasks_within(query, sorted(readable))

    def update_task(self, task_id: str, update: TaskUpdate) -> Task:
        self._guard.task(task_id, E, "change")
        return self._inner.update_task(task_id, update)

    def change_status(self, task_id: str, change: StatusChange) -> Task:
        guard = self._guard
        if not (guard.user.agent and self._runs(task_id)):
            # an agent account ends (or hands back) the running tasks it claimed as itself
            guard.task(task_id, E, f"set status {change.status.value} of")
        return self._inner.change_status(task_id, change)

    def _runs(self, task_id: str) -> bool:
        """Whether the acting agent account claimed ``task_id``, which still runs."""
        task = self._inner.get_task(task_id)
        return task.status is TaskStatus.in_progress and task.runner == self._guard.user.name

    def request_abort(self, task_id: str, reason: str = "") -> Task:
        self._guard.task(task_id, E, "abort")
        return self._inner.request_abort(task_id, reason)

    def mark_alive(self, task_id: str) -> Task:
        self._guard.task(task_id, E, "report life of")
        return self._inner.mark_alive(task_id)

    def wait_for_children(self, parent_id: str, since: str | None = None,
                          wait_s: float = 0.0) -> str:
        self._guard.task(parent_id, V, "watch the children of")
        return self._inner.wait_for_children(parent_id, since, wait_s)

    def reap_lost_tasks(self, lost_after_s: float = LOST_AFTER_S) -> list[Task]:
        self._guard.admin("fail lost tasks")
        return self._inner.reap_lost_tasks(lost_after_s)

    def clone_task(self, task_id: str, name: str | None = None, parent_id: str | None = None,
                   project: str | None = None) -> Task:
        guard = self._guard
        if not guard.user.admin:
            # into its own project: editor there; elsewhere: viewer here, editor there
            guard.task(task_id, V if project is not None else E, "clone")
            if project is not None:
                guard.project_or_new(project, E, f"create a clone of task {task_id}")
            if parent_id is not None:
                self._check_parent(parent_id)
        return self._inner.clone_task(task_id, name=name, parent_id=parent_id, project=project)

    def delete_task(self, task_id: str) -> None:
        self._guard.task(task_id, OWNER, "delete")
        self._inner.delete_task(task_id)

    # ------------------------------------------------------------ parameters & co
    def set_parameters(self, task_id: str, params: list[Parameter], replace: bool = False) -> None:
        self._guard.task(task_id, E, "set the parameters of")
        self._inner.set_parameters(task_id, params, replace=replace)

    def set_parameter_chunks(self, task_id: str, chunks: Iterable[list[Parameter]],
                             replace: bool = False) -> None:
        self._guard.task(task_id, E, "set the parameters of")
        self._inner.set_parameter_chunks(task_id, chunks, replace=replace)

    def get_parameters(self, task_id: str) -> list[Parameter]:
        self._guard.task(task_id, V, "read the parameters of")
        return self._inner.get_parameters(task_id)

    def set_configuration(self, task_id: str, config: Configuration) -> None:
        self._guard.task(task_id, E, "set a configuration of")
        self._inner.set_configuration(task_id, config)

    def get_configurations(self, task_id: str) -> list[Configuration]:
        self._guard.task(task_id, V, "read the configurations of")
        return self._inner.get_configurations(task_id)

    def set_script(self, task_id: str, script: Script) -> None:
        self._guard.task(task_id, E, "set the script of")
        self._inner.set_script(task_id, script)

    def get_script(self, task_id: str) -> Script:
        self._guard.task(task_id, V, "read the script of")
        return self._inner.get_script(task_id)

    def set_environment(self, task_id: str, env: Environment) -> None:
        self._guard.task(task_id, E, "set the environment of")
        self._inner.set_environment(task_id, env)

    def get_environment(self, task_id: str) -> Environment:
        self._guard.task(task_id, V, "read the environment of")
        return self._inner.get_environment(task_id)


class GuardedEventStore(EventStore):
    """:class:`~tunehouse.store.interfaces.EventStore` checked by ``guard``: reporting needs
    ``editor`` on the task's project, reading ``viewer``."""

    def __init__(self, guard: Guard, inner: EventStore) -> None:
        self._guard = guard
        self._inner = inner

    def add_events(self, batch: EventBatch) -> BatchResult:
        self._guard.task(batch.task_id, E, "report events of")
        return self._inner.add_events(batch)

    def add_event_chunks(self, batch_id: str, task_id: str,
                         chunks: Iterable[EventBatch]) -> BatchResult:
        self._guard.task(task_id, E, "report events of")
        return self._inner.add_event_chunks(batch_id, task_id, chunks)

    def get_metric_summaries(self, task_id: str) -> list[MetricSummary]:
        self._guard.task(task_id, V, "read the metrics of")
        return self._inner.get_metric_summaries(task_id)

    def get_scalars(self, task_id: str, title: str | None = None, series: str | None = None,
                    max_points: int | None = None) -> list[SeriesData]:
        self._guard.task(task_id, V, "read the scalars of")
        return self._inner.get_scalars(task_id, title=title, series=series,
                                       max_points=max_points)

    def get_logs(self, task_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        self._guard.task(task_id, V, "read the console of")
        return self._inner.get_logs(task_id, after_seq=after_seq, limit=limit)
