"""Projects, tasks and what a task is configured with."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator

from tunehouse.store.records import (
    LOST_AFTER_S,
    Configuration,
    Environment,
    Parameter,
    Project,
    Script,
    StatusChange,
    Task,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskUpdate,
)


class TaskStore(abc.ABC):
    """Projects and tasks, with parameters, configurations, script and environment."""

    # ------------------------------------------------------------ projects
    @abc.abstractmethod
    def get_or_create_project(self, name: str, description: str = "") -> Project:
        """The project called ``name`` (hierarchical, ``a/b/c``), created if missing."""

    @abc.abstractmethod
    def get_project(self, name_or_id: str) -> Project: ...

    @abc.abstractmethod
    def list_projects(self) -> list[Project]:
        """All projects, by name."""

    # ------------------------------------------------------------ tasks
    @abc.abstractmethod
    def create_task(self, spec: TaskCreate) -> Task:
        """A new task in status ``created``; the project is created when missing."""

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Task: ...

    @abc.abstractmethod
    def list_tasks(self, query: TaskQuery) -> TaskPage:
        """One page of tasks matching ``query`` and the total count of matches: the read
        model of task tables (web UI, JSON API, SDK and CLI).

        ``query.filters`` (``COLUMN OP VALUE``, all must hold), ``query.columns`` (whose
        values come back in ``TaskPage.values``) and ``query.order_by`` take column specs
        ``param:<section>/<name>`` and ``metric:<title>/<series>[:last|:min|:max]`` (see
        :class:`~tunehouse.store.records.TaskQuery`). Pages follow ``offset``, or
        ``cursor``: the previous page's ``next_cursor`` (None on the last page). A page
        costs a constant number of queries, whatever its size.

        Raises:
            InvalidInput: a filter, column, order or cursor is not understood (the
                message names it and says why), or a cursor comes with an offset.
        """

    def iter_tasks(self, query: TaskQuery, at_most: int | None = None) -> Iterator[Task]:
        """Every task ``query`` matches, fetched page by page (``query.limit`` is the page
        size; the first page starts at ``query.offset`` or ``query.cursor``, the next ones
        follow :attr:`TaskPage.next_cursor`, so tasks created meanwhile shift nothing);
        stops after ``at_most`` tasks when given."""
        seen = 0
        page_query = query
        while at_most is None or seen < at_most:
            page = self.list_tasks(page_query)
            yield from page.tasks[:None if at_most is None else at_most - seen]
            seen += len(page.tasks)
            if not page.next_cursor:
                return
            page_query = query.model_copy(update={"cursor": page.next_cursor, "offset": 0})

    @abc.abstractmethod
    def update_task(self, task_id: str, update: TaskUpdate) -> Task:
        """Edit name, comment, tags, retries, message or last iteration."""

    @abc.abstractmethod
    def change_status(self, task_id: str, change: StatusChange) -> Task:
        """Move a task through the status machine (:mod:`tunehouse.store.status`).

        ``in_progress`` sets ``started`` and increments ``attempt``; a terminal status sets
        ``completed``; ``created`` (reset) clears queue, worker, abort flag and times, and
        removes the task's scalars, console and artifacts (not its parameters). With
        ``keep_if_same`` a task already in ``change.status`` is returned unchanged (the
        check and the change are one atomic step).
        """

    @abc.abstractmethod
    def request_abort(self, task_id: str, reason: str = "") -> Task:
        """Abort a task: queued/created ones at once, running ones by setting
        ``abort_requested`` for their agent or SDK to act on, except a running task
        without an agent that shows no life (quiet for
        :data:`~tunehouse.store.records.QUIET_AFTER_S`): nobody would act, so it ends now."""

    @abc.abstractmethod
    def mark_alive(self, task_id: str) -> Task:
        """Record a sign of life of the task's process (storing events does too); the
        answer carries ``abort_requested``."""

    @abc.abstractmethod
    def wait_for_children(self, parent_id: str, since: str | None = None,
                          wait_s: float = 0.0) -> str:
        """The version of the children of ``parent_id``: an opaque string that changes
        when a child is created or deleted, changes status, is asked to abort, is updated
        or has events stored (a sign of life or a lease renewal leaves it alone).

        Waits up to ``wait_s`` seconds (at most
        :data:`~tunehouse.store.records.CHILDREN_WAIT_MAX_S`) for the version to differ
        from ``since`` (a long poll: a search controller wakes on its trials' reports and
        ends this way); returns the version then or at the end of the wait.
        A change made through this process's store (the server's, for HTTP clients) is
        seen at once, one made elsewhere within
        :data:`~tunehouse.store.sql.tasks.CHILDREN_CHANGE_POLL_S`."""

    @abc.abstractmethod
    def reap_lost_tasks(self, lost_after_s: float = LOST_AFTER_S) -> list[Task]:
        """The watchdog's pass: running tasks without an agent whose process showed no
        life for ``lost_after_s`` become ``failed`` ("process lost: no sign of life since
        ..."); those whose abort was requested become ``aborted`` once quiet for
        :data:`~tunehouse.store.records.QUIET_AFTER_S`. Returns the tasks it changed."""

    @abc.abstractmethod
    def clone_task(self, task_id: str, name: str | None = None, parent_id: str | None = None,
                   project: str | None = None) -> Task:
        """A new ``created`` task with the source's parameters, configurations, script,
        environment and tags (not its outputs)."""

    @abc.abstractmethod
    def delete_task(self, task_id: str) -> None:
        """Delete a task that is not queued or running, with everything it recorded."""

    # ------------------------------------------------------------ parameters & co
    @abc.abstractmethod
    def set_parameters(self, task_id: str, params: list[Parameter], replace: bool = False) -> None:
        """Upsert parameters by (section, name); ``replace`` first drops all others."""

    def set_parameter_chunks(self, task_id: str, chunks: Iterable[list[Parameter]],
                             replace: bool = False) -> None:
        """The parameters given as consecutive chunks: the same contract as
        :meth:`set_parameters`. Implementations that can (the SQL store) write chunk by
        chunk in one transaction, so a long list never sits in memory whole; this default
        joins the chunks and calls :meth:`set_parameters`."""
        self.set_parameters(task_id, [param for chunk in chunks for param in chunk],
                            replace=replace)

    @abc.abstractmethod
    def get_parameters(self, task_id: str) -> list[Parameter]:
        """Parameters ordered by section then name."""

    @abc.abstractmethod
    def set_configuration(self, task_id: str, config: Configuration) -> None: ...

    @abc.abstractmethod
    def get_configurations(self, task_id: str) -> list[Configuration]: ...

    @abc.abstractmethod
    def set_script(self, task_id: str, script: Script) -> None: ...

    @abc.abstractmethod
    def get_script(self, task_id: str) -> Script:
        """The recorded script, or an empty ``Script()`` when none was recorded."""

    @abc.abstractmethod
    def set_environment(self, task_id: str, env: Environment) -> None: ...

    @abc.abstractmethod
    def get_environment(self, task_id: str) -> Environment: ...
