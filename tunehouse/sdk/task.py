"""``Task``: the run of a training script, in the style of ClearML's ``Task``.

``Task.init`` creates a task (or, under an agent, attaches to ``TUNEHOUSE_TASK_ID``),
starts the background reporter and the auto-capture (git, environment, console,
resources, seeds, argparse and framework hooks), and installs exit, exception and SIGTERM
handlers that flush and set the final status. Other ``Task`` objects (from ``get_task``,
``get_tasks``, ``clone``) are handles on stored tasks that report nothing.

The backend is the :class:`~tunehouse.store.base.Store` that
:func:`tunehouse.client.open_store` picks from the settings: the tracking server over HTTP
when ``TUNEHOUSE_SERVER`` is set, else the embedded store in ``TUNEHOUSE_HOME``.

``Task`` is the public face; the work is done in :mod:`tunehouse.sdk.run` (the running
task: start, capture, exit handling, close), :mod:`tunehouse.sdk.state` (the process-wide
state: the current run, the seed, the open stores),
:mod:`tunehouse.sdk.connect` (parameters and configurations) and
:mod:`tunehouse.sdk.queries` (creating, finding and reading stored tasks).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from tunehouse.errors import InvalidInput
from tunehouse.integrations import argparse_hook
from tunehouse.sdk import artifacts, datasets, queries, remote
from tunehouse.sdk.clearml_agent import clearml_agent_settings
from tunehouse.sdk.connect import ParameterBinding
from tunehouse.sdk.logger import Logger
from tunehouse.sdk.run import TaskRun, capture_switches
from tunehouse.sdk.state import RUN_STATE
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import StatusChange, TaskStatus, TaskType, TaskUpdate
from tunehouse.store.records import Task as TaskRecord
from tunehouse.store.status import TERMINAL

# Arguments parsed before Task.init are captured too (docs/sdk.md), and a parse that ran
# before Task.init cannot be seen afterwards: so recording starts when ``Task`` is imported,
# the one patch tunehouse makes at import. Task.init hands it over to the task (or ends it
# when argparse capture is off) and close() restores argparse.
argparse_hook.record_early_parses()

T = TypeVar("T")


class Task:
    """A tracked run. Create the running one with :meth:`Task.init`."""

    TaskTypes = TaskType

    def __init__(self, store: Store, settings: Settings, record: TaskRecord) -> None:
        self._store = store
        self._settings = settings
        self._record = record
        self._params = ParameterBinding(store, record.id)
        self._run: TaskRun | None = None
        self.output_uri: str | None = None
        self.seed: int | None = None

    # ================================================================ creation
    @classmethod
    def init(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | TaskType = "training",
        tags: list[str] | None = None,
        reuse_last_task_id: bool | str = False,
        auto_connect_arg_parser: bool = True,
        auto_connect_frameworks: bool | Mapping[str, Any] = True,
        auto_resource_monitoring: bool | float = True,
        auto_connect_streams: bool = True,
        output_uri: str | bool | None = None,
        capture: Mapping[str, bool] | None = None,
        flush_timeout: float = 30.0,
        settings: Settings | None = None,
    ) -> Task:
        """Start tracking this process as a task and return it.

        Args:
            project_name: Project (hierarchical, ``team/mnist``).
            task_name: Task name.
            task_type: ``training``, ``testing``, ``optimizer``, ``data_processing``,
                ``inference`` or ``controller``.
            tags: Tags of the new task.
            reuse_last_task_id: True to reuse the latest task of this project and name
                when it never ran or finished without artifacts or models (it is reset);
                a task id to reuse that task.
            auto_connect_arg_parser: Record argparse arguments in section ``Args``.
            auto_connect_frameworks: Framework hooks (Keras, TensorBoard): a bool, or
                ``{name: bool or options}`` (e.g. ``{"keras": {"batch_frequency": 10}}``).
            auto_resource_monitoring: Report CPU/memory/GPU use; a number sets the
                sampling interval in seconds (default 5).
            auto_connect_streams: Capture stdout and stderr (file-descriptor level).
            output_uri: Where models are uploaded (kept for the model integrations).
            capture: Switches by name: ``git``, ``packages``, ``environment``,
                ``console``, ``resources``, ``seeds``, ``argparse``, ``frameworks``.
            flush_timeout: Seconds ``close()``, exit and exception handlers wait for
                reports to be stored.
            settings: Explicit settings (default: ``Settings.from_env()``).

        Returns:
            The running task. A second call in the same process returns the same task.

        Raises:
            InvalidInput: a missing project/task name or an unknown task type.
        """
        current = cls.current_task()
        if current is not None:
            return current
        settings = settings or clearml_agent_settings(Settings.from_env(), os.environ)
        switches = capture_switches(auto_connect_arg_parser, auto_connect_frameworks,
                                    auto_resource_monitoring, auto_connect_streams, capture)
        store, record, offline = queries.open_record(
            settings, RUN_STATE.store_for(settings), project_name, task_name,
            queries.task_type(task_type), tags or [], reuse_last_task_id, _say)
        remote = bool(settings.task_id)
        task = cls(store, settings, record)
        task.output_uri = output_uri if isinstance(output_uri, str) else None
        task._run = TaskRun(task, task._params, remote, float(flush_timeout), task._set_record,
                            offline)
        task._run.start(switches)
        return task

    def _set_record(self, record: TaskRecord) -> None:
        self._record = record

    # ================================================================ accessors
    @classmethod
    def current_task(cls) -> Task | None:
        """The task started by ``Task.init`` in this process, or None."""
        current = RUN_STATE.current_task()  # known there as a RunningTask: it is a Task
        return current if isinstance(current, Task) else None

    @classmethod
    def set_random_seed(cls, seed: int | None) -> None:
        """Seed used by the next ``Task.init`` (default 1337); None disables seeding."""
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise InvalidInput("the random seed must be an int or None")
        RUN_STATE.seed = seed

    @property
    def id(self) -> str:
        """The task id."""
        return self._record.id

    @property
    def name(self) -> str:
        """The task name."""
        return self._record.name

    @property
    def project(self) -> str:
        """The task's project."""
        return self._record.project

    @property
    def record(self) -> TaskRecord:
        """The stored task record as last read (see :meth:`reload`)."""
        return self._record

    @property
    def store(self) -> Store:
        """The store this task reads and writes."""
        return self._store

    @property
    def settings(self) -> Settings:
        """The settings the task's store was opened with."""
        return self._settings

    @property
    def running(self) -> bool:
        """True for the task started by ``Task.init`` until it is closed."""
        return self._run is not None and self._run.running

    def reload(self) -> TaskRecord:
        """Read the task record again from the store."""
        self._record = self._store.tasks.get_task(self.id)
        return self._record

    def get_status(self) -> str:
        """The stored status (read again), e.g. ``in_progress``."""
        return self.reload().status.value

    def get_logger(self) -> Logger:
        """The logger of this (running) task."""
        logger = self._run.logger if self._run is not None else None
        if logger is None:
            raise InvalidInput(f"task {self.id} is not running in this process: only the "
                               "task from Task.init() has a logger")
        return logger

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.project}/{self.name} {self._record.status.value}>"

    # ================================================================ parameters
    def connect(self, obj: T, name: str | None = None) -> T:
        """Record ``obj``'s values as parameters and return it, maybe with stored values.

        Dicts are flattened to dotted names (``model.lr``) inside section ``name``
        (default ``General``); argparse namespaces and parsers go to ``Args``; other
        objects contribute their public non-callable attributes. Under an agent the
        stored (possibly edited) values are written into ``obj``, cast to the types the
        script used.

        Raises:
            InvalidInput: a stored value cannot be cast to the script's type.
        """
        return self._params.connect(obj, name)

    def connect_configuration(self, configuration: Any, name: str | None = None,
                              description: str = "") -> Any:
        """Record a configuration (a dict, or the path of a configuration file).

        Returns:
            The dict (updated in place with the stored one under an agent), or the path of
            the file to read (under an agent: a temporary file holding the stored text).
        """
        return self._params.connect_configuration(configuration, name, description)

    def set_parameters(self, values: Mapping[str, Any], description: str = "") -> None:
        """Store parameters given as ``{"Section/name": value}`` (no section: General)."""
        self._params.set_parameters(values, description)

    def set_parameter(self, name: str, value: Any, description: str = "") -> None:
        """Store one parameter ``"Section/name"``."""
        self.set_parameters({name: value}, description)

    def get_parameters(self, cast: bool = True) -> dict[str, Any]:
        """All parameters as ``{"Section/name": value}``, typed unless ``cast=False``."""
        return self._params.get_parameters(cast)

    def get_parameter(self, name: str, default: Any = None) -> Any:
        """One parameter ``"Section/name"`` (typed), or ``default``."""
        return self.get_parameters().get(name, default)

    def get_configuration_object(self, name: str) -> str | None:
        """The text of configuration ``name``, or None."""
        return self._params.get_configuration_object(name)

    # ================================================================ artifacts
    def upload_artifact(self, name: str, artifact_object: Any,
                        metadata: Mapping[str, Any] | None = None,
                        wait_on_upload: bool = True) -> bool:
        """Upload a file, folder (zipped), dict/list (JSON), NumPy array (``.npy``),
        pandas DataFrame (gzipped CSV), string or other object (pickled) as artifact
        ``name``; the content is streamed into the artifact store."""
        artifacts.upload(self._store, self.id, name, artifact_object, metadata)
        return True

    @property
    def artifacts(self) -> dict[str, Any]:
        """The task's artifacts by name."""
        return {a.name: a for a in self._store.artifacts.list_artifacts(self.id)}

    def add_input_dataset(self, path_or_uri: str | os.PathLike[str],
                          name: str | None = None) -> dict[str, Any]:
        """Record a dataset the task reads: a local file or folder (absolute path, total
        size, file count and a content fingerprint) or a URI kept as given (``s3://...``,
        ``https://...``: size, files and fingerprint ``None``).

        It is stored, as ``upload_artifact`` stores artifacts (offline runs included), as
        artifact ``dataset/<name>`` of kind ``input-dataset``: a JSON manifest whose fields
        are also its metadata. See :mod:`tunehouse.sdk.datasets` for the fingerprint rule
        (content of small files, size and modification time of large ones).

        Args:
            path_or_uri: The file, folder or URI.
            name: The dataset's name (default: the path's or URI's last part); recording a
                name again replaces that dataset.

        Returns:
            ``{"name", "path", "size", "files", "fingerprint", "recorded"}``.

        Raises:
            InvalidInput: the local path does not exist (the message names it).
        """
        return datasets.add_input_dataset(self._store, self.id, path_or_uri, name)

    # ================================================================ tags and status
    def add_tags(self, tags: str | list[str]) -> None:
        """Add tags (those already there are kept once)."""
        new = [tags] if isinstance(tags, str) else list(tags)
        current = self.reload().tags
        merged = current + [tag for tag in new if tag not in current]
        self._record = self._store.tasks.update_task(self.id, TaskUpdate(tags=merged))

    def get_tags(self) -> list[str]:
        """The stored tags (read again)."""
        return list(self.reload().tags)

    def set_comment(self, comment: str) -> None:
        """Set the task's comment."""
        self._record = self._store.tasks.update_task(self.id, TaskUpdate(comment=comment))

    def mark_completed(self, status_message: str = "") -> None:
        """Mark the task completed (the running task flushes its reports first)."""
        self._mark(TaskStatus.completed, "", status_message)

    def mark_failed(self, reason: str = "", status_message: str = "") -> None:
        """Mark the task failed with ``reason`` (the running task flushes first)."""
        self._mark(TaskStatus.failed, reason, status_message or reason)

    def mark_started(self) -> None:
        """Mark the task ``in_progress``."""
        self._mark(TaskStatus.in_progress, "", "")

    def _mark(self, status: TaskStatus, reason: str, message: str) -> None:
        run = self._run
        if run is not None and run.running:
            run.flush()
            if status in TERMINAL:
                run.note_final_status()
        force = status in TERMINAL and self._record.status in TERMINAL
        self._record = self._store.tasks.change_status(
            self.id, StatusChange(status=status, reason=reason, message=message, force=force))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything reported so far is stored.

        Args:
            timeout: Seconds to wait at most (default: the task's ``flush_timeout``).

        Returns:
            True when the store acknowledged everything; False on timeout (reports stay
            queued or spooled, nothing is dropped).
        """
        return self._run.flush(timeout) if self._run is not None else True

    def close(self) -> None:
        """Flush, stop the capture threads, restore hooks and mark the task completed
        (unless a final status was already set)."""
        if self._run is not None:
            self._run.shutdown(TaskStatus.completed)

    # ================================================================ queries
    @classmethod
    def get_task(cls, task_id: str | None = None, project_name: str | None = None,
                 task_name: str | None = None) -> Task:
        """A stored task by id, or the latest task of ``project_name`` named ``task_name``.

        Raises:
            NotFound: no such task.
        """
        return queries.get_task(cls, task_id, project_name, task_name)

    @classmethod
    def get_tasks(cls, project_name: str | None = None, task_name: str | None = None,
                  tags: list[str] | None = None, status: str | list[str] | None = None, *,
                  filters: list[str] | None = None, order_by: str | None = None,
                  descending: bool = True, allow_archived: bool = True) -> list[Task]:
        """Stored tasks matching every filter given, newest first unless ``order_by``.

        Args:
            project_name: Only this project (by name or id, not its sub-projects).
            task_name: Only tasks of exactly this name.
            tags: Only tasks with all these tags.
            status: Only tasks in this status (or one of these).
            filters: ``COLUMN OP VALUE`` expressions that must all hold, OP one of
                ``= != < <= > >=``; COLUMN is ``param:<section>/<name>``,
                ``metric:<title>/<series>`` (``:last``, ``:min`` or ``:max`` picks the
                summary, last by default) or ``created``, ``updated``, ``name``,
                ``status``, ``type``, ``user``. A numeric VALUE compares numbers, another
                compares text: ``["param:General/lr >= 0.001", "metric:val/loss:min < 0.2"]``.
            order_by: ``created`` (default), ``updated``, ``name``, ``status``, ``type``,
                or a parameter or metric column as in ``filters``; tasks lacking that
                value come last.
            descending: Largest (newest) first.
            allow_archived: Include tasks tagged ``archived`` (as ClearML's
                ``Task.get_tasks``, the default); False leaves them out, as the web UI's
                table does.

        To read parameter and metric values as a table, page through the store's listing
        instead: ``store.tasks.list_tasks(TaskQuery(project=..., columns=[...],
        filters=[...]))`` returns each page's values and the ``next_cursor``.

        Raises:
            InvalidInput: a filter, order or status is not understood (the message says
                which and why).
        """
        return queries.get_tasks(cls, project_name, task_name, tags, status, filters=filters,
                                 order_by=order_by, descending=descending,
                                 allow_archived=allow_archived)

    @classmethod
    def clone(cls, source_task: Task | str, name: str | None = None, comment: str | None = None,
              parent: Task | str | None = None, project: str | None = None,
              parameter_overrides: Mapping[str, Any] | None = None) -> Task:
        """A new ``created`` task with the source's parameters, configurations, script,
        environment and tags (not its outputs), ready to be edited and queued.

        Args:
            source_task: The task to copy (a ``Task`` or an id).
            name: Name of the clone (default: the source's name + `` (clone)``).
            comment: Comment of the clone (default: the source's).
            parent: Parent task recorded on the clone (a ``Task`` or an id).
            project: Project of the clone (default: the source's).
            parameter_overrides: ``{"Section/name": value}`` to change (or, with a
                section, add) parameters of the clone; a plain ``name`` changes the one
                parameter of that name in whatever section. A string is taken as the
                parameter's text, other values are stored as ``connect`` stores them.

        Raises:
            InvalidInput: an override names no parameter or several (the message lists
                them), or its value cannot be read as the parameter's type. Nothing is
                cloned then.
        """
        source_id = source_task.id if isinstance(source_task, Task) else source_task
        parent_id = parent.id if isinstance(parent, Task) else parent
        return queries.clone(cls, source_id, name, comment, parent_id, project,
                             parameter_overrides)

    @classmethod
    def enqueue(cls, task: Task | str, queue_name: str | None = None, priority: int = 0) -> Task:
        """Put a ``created`` task in queue ``queue_name`` (default ``default``; created
        when missing) for an agent to run; higher ``priority`` is claimed first.

        Returns:
            The queued task (status ``queued``).
        """
        task_id = task.id if isinstance(task, Task) else task
        return queries.enqueue(cls, task_id, queue_name, priority)

    def execute_remotely(self, queue_name: str | None = None, clone: bool = False,
                         exit_process: bool = True) -> Task | None:
        """Stop running here and queue the task for an agent (as ClearML's
        ``execute_remotely``).

        Under an agent (``TUNEHOUSE_TASK_ID`` set) this does nothing and returns None: the
        script goes on past the call. Locally it waits for the code and environment
        capture, flushes the reports and then:

        * ``clone=False``: closes the local run without a final status and queues the task
          itself (``in_progress`` -> ``queued``), with the parameters connected so far;
        * ``clone=True``: queues a clone; the local task is closed normally
          (``completed``) when the process exits, and goes on running otherwise.

        Args:
            queue_name: The queue (default ``default``).
            clone: Queue a clone instead of this task.
            exit_process: End the process with exit code 0 right after (``SystemExit(0)``:
                the code after the call does not run locally).

        Returns:
            The queued task when ``exit_process`` is False; None under an agent.

        Raises:
            InvalidInput: this is not the running task of this process, the run is
                offline, or the task is no longer ``in_progress`` (without ``clone``).
        """
        if remote.under_agent(self._settings):
            return None
        record = remote.send_to_queue(self._store, self.id, self._run, queue_name, clone,
                                      close_run=exit_process)
        if exit_process:
            raise SystemExit(0)
        if clone:
            return type(self)(self._store, self._settings, record)
        self._record = record
        return self

    def get_reported_scalars(self, max_samples: int = 0) -> dict[str, dict[str, dict[str, list]]]:
        """``{title: {series: {"x": [...], "y": [...]}}}``; ``max_samples`` > 0
        downsamples each series to at most that many points."""
        if self.running:
            self.flush()
        return queries.reported_scalars(self._store, self.id, max_samples)

    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """``{title: {series: {"last", "min", "max"}}}`` from the metric summaries."""
        return queries.last_scalar_metrics(self._store, self.id)

    def export_task(self) -> dict[str, Any]:
        """The whole stored record as plain data: task fields, script, diff, packages,
        environment, parameters, configurations, status, metric summaries, artifacts."""
        return queries.export_task(self._store, self.reload())


def _say(message: str) -> None:
    """One line for the user on stderr (before the console capture starts)."""
    print(message, file=sys.stderr, flush=True)
