"""``Task``: the run of a training script, in the style of ClearML's ``Task``.

``Task.init`` creates a task (or, under an agent, attaches to ``TUNEHOUSE_TASK_ID``),
starts the background reporter and the auto-capture (git, environment, console,
resources, seeds, argparse and framework hooks), and installs exit, exception and SIGTERM
handlers that flush and set the final status. Other ``Task`` objects (from ``get_task``,
``get_tasks``, ``clone``) are handles on stored tasks that report nothing.

The backend is the :class:`~tunehouse.store.base.Store` that
:func:`tunehouse.store.open_store` picks from the settings: the tracking server over HTTP
when ``TUNEHOUSE_SERVER`` is set, else the embedded store in ``TUNEHOUSE_HOME``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tunehouse.errors import InvalidInput, InvalidTransition, NotFound
from tunehouse.integrations import argparse_hook
from tunehouse.integrations.provider import TrackedTask, set_provider
from tunehouse.sdk import artifacts
from tunehouse.sdk import parameters as params
from tunehouse.sdk.capture.seeds import DEFAULT_SEED, apply_seed
from tunehouse.sdk.lifecycle import ExitHooks, retrying
from tunehouse.sdk.logger import Logger
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Configuration,
    Parameter,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
    TaskType,
    TaskUpdate,
)
from tunehouse.store.records import Task as TaskRecord
from tunehouse.store.status import TERMINAL

# Arguments parsed before Task.init are captured too (docs/sdk.md), and a parse that ran
# before Task.init cannot be seen afterwards: so recording starts when ``Task`` is imported,
# the one patch tunehouse makes at import. Task.init hands it over to the task (or ends it
# when argparse capture is off) and close() restores argparse.
argparse_hook.record_early_parses()

T = TypeVar("T")
CAPTURE_SWITCHES = ("git", "packages", "environment", "console", "resources", "seeds",
                    "argparse", "frameworks")
STATUS_MESSAGE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class CaptureSwitches:
    """Which parts ``Task.init`` records (see docs/sdk.md)."""

    git: bool = True
    packages: bool = True
    environment: bool = True
    console: bool = True
    resources: bool = True
    seeds: bool = True
    argparse: bool = True
    frameworks: bool | Mapping[str, Any] = True
    resource_interval: float = 5.0


class Task:
    """A tracked run. Create the running one with :meth:`Task.init`."""

    TaskTypes = TaskType

    _current: ClassVar[Task | None] = None
    _seed: ClassVar[int | None] = DEFAULT_SEED
    _stores: ClassVar[dict[Settings, Store]] = {}
    _stores_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, store: Store, settings: Settings, record: TaskRecord) -> None:
        self._store = store
        self._settings = settings
        self._record = record
        self._running = False
        self._logger: Logger | None = None
        self._reporter: Any = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._final_status_set = False
        self._flush_timeout = 30.0
        self._remote = False
        self._stored_params: dict[tuple[str, str], Any] = {}
        self._stored_configs: dict[str, Configuration] = {}
        self._uninstallers: list[Callable[[], None]] = []
        self._console: Any = None
        self._monitor: Any = None
        self._capture_thread: threading.Thread | None = None
        self._hooks: ExitHooks | None = None
        self.output_uri: str | None = None
        self.seed: int | None = None
        self._fork_child = False

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
        if cls._current is not None:
            return cls._current
        settings = settings or Settings.from_env()
        switches = _switches(auto_connect_arg_parser, auto_connect_frameworks,
                             auto_resource_monitoring, auto_connect_streams, capture)
        store = cls._store_for(settings)
        if settings.task_id:
            record = _attach(store, settings.task_id)
            remote = True
        else:
            if not project_name or not task_name:
                raise InvalidInput("Task.init needs project_name and task_name")
            record = _create_or_reuse(store, project_name, task_name, _task_type(task_type),
                                      tags or [], reuse_last_task_id)
            remote = False
        task = cls(store, settings, record)
        task._remote = remote
        task._flush_timeout = float(flush_timeout)
        task.output_uri = output_uri if isinstance(output_uri, str) else None
        task._start(switches)
        return task

    @classmethod
    def _store_for(cls, settings: Settings) -> Store:
        with cls._stores_lock:
            store = cls._stores.get(settings)
            if store is None:
                from tunehouse.store import open_store

                store = open_store(settings)
                cls._stores[settings] = store
            return store

    @classmethod
    def _default_store(cls) -> tuple[Settings, Store]:
        if cls._current is not None:
            return cls._current._settings, cls._current._store
        settings = Settings.from_env()
        return settings, cls._store_for(settings)

    def _start(self, switches: CaptureSwitches) -> None:
        from tunehouse.sdk.reporter import Reporter

        Task._current = self
        self._running = True
        if self._remote:
            self._stored_params = {(p.section, p.name): p
                                   for p in self._store.get_parameters(self.id)}
            self._stored_configs = {c.name: c for c in self._store.get_configurations(self.id)}
        self._reporter = Reporter(self._store, self.id, self._settings.offline_spool,
                                  warn=self._warn)
        self._logger = Logger(self, self._reporter)
        _watch_forks()
        if switches.seeds and Task._seed is not None:
            apply_seed(Task._seed)
            self.seed = Task._seed
        if switches.console:
            from tunehouse.sdk.capture.console import ConsoleCapture

            self._console = ConsoleCapture(self._reporter.add_log)
            self._console.start()
        self._hooks = ExitHooks(self._on_exit, self._on_exception, self._on_thread_exception,
                                self._on_sigterm)
        self._hooks.install()
        if switches.git or switches.environment:
            self._capture_thread = threading.Thread(
                target=self._capture_code_and_environment, args=(switches,),
                name="tunehouse-capture", daemon=True)
            self._capture_thread.start()
        if switches.resources:
            from tunehouse.sdk.capture.resources import ResourceMonitor

            self._monitor = ResourceMonitor(self._logger.report_scalar,
                                            switches.resource_interval)
            self._monitor.start()
        from tunehouse.integrations.frameworks import connect_frameworks, registered_frameworks

        config: dict[str, Any] = {name: _framework_option(switches.frameworks, name)
                  for name in registered_frameworks()}
        config["argparse"] = switches.argparse
        set_provider(_SDK_PROVIDER)
        self._uninstallers = connect_frameworks(self, config)
        # the argparse integration, when on, now holds the patch and was handed the
        # namespaces parsed before Task.init: the import-time recording has done its job
        argparse_hook.end_early_recording()

    def _capture_code_and_environment(self, switches: CaptureSwitches) -> None:
        from tunehouse.sdk.capture.environment import capture_environment
        from tunehouse.sdk.capture.git import capture_code

        deadline = time.monotonic() + max(self._flush_timeout, 10.0)
        try:
            if switches.git:
                code = capture_code()
                existing = self._store.get_script(self.id) if self._remote else None
                if existing is None or not (existing.repository or existing.script_text):
                    retrying(lambda: self._store.set_script(self.id, code.script), deadline)
                if code.large_diff is not None:
                    artifacts.upload_bytes(self._store, self.id, "git_diff",
                                           code.large_diff.encode("utf-8"),
                                           kind="diff", content_type="text/x-diff")
            if switches.environment:
                env = capture_environment(self.seed, packages=switches.packages)
                retrying(lambda: self._store.set_environment(self.id, env), deadline)
        except Exception as exc:
            self._warn(f"tunehouse: could not record the code/environment: {exc}")

    # ================================================================ accessors
    @classmethod
    def current_task(cls) -> Task | None:
        """The task started by ``Task.init`` in this process, or None."""
        return cls._current

    @classmethod
    def set_random_seed(cls, seed: int | None) -> None:
        """Seed used by the next ``Task.init`` (default 1337); None disables seeding."""
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise InvalidInput("the random seed must be an int or None")
        cls._seed = seed

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def project(self) -> str:
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
        return self._settings

    @property
    def running(self) -> bool:
        """True for the task started by ``Task.init`` until it is closed."""
        return self._running and not self._closed

    def reload(self) -> TaskRecord:
        """Read the task record again from the store."""
        self._record = self._store.get_task(self.id)
        return self._record

    def get_status(self) -> str:
        return self.reload().status.value

    def get_logger(self) -> Logger:
        """The logger of this (running) task."""
        if self._logger is None:
            raise InvalidInput(f"task {self.id} is not running in this process: only the "
                               "task from Task.init() has a logger")
        return self._logger

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
        if isinstance(obj, argparse.ArgumentParser):
            section = name or params.ARGS_SECTION
            defaults = argparse_hook.parser_defaults(obj)
            applied = self._connect_mapping(section, defaults, extras=False)
            changed = {k: v for k, v in applied.items() if defaults.get(k) is not v}
            if changed:
                obj.set_defaults(**changed)
            return obj
        if isinstance(obj, argparse.Namespace):
            self._connect_attributes(obj, name or params.ARGS_SECTION)
            return obj
        if isinstance(obj, dict):
            self._connect_mapping(name or params.DEFAULT_SECTION, obj, extras=True)
            return obj
        if isinstance(obj, Mapping):
            raise InvalidInput("connect() takes a dict, not a read-only mapping")
        if isinstance(obj, (str, bytes, int, float, list, tuple)) or obj is None:
            raise InvalidInput(f"connect() takes a dict, an argparse namespace or an "
                               f"object, not {type(obj).__name__}")
        self._connect_attributes(obj, name or params.DEFAULT_SECTION)
        return obj

    def _connect_attributes(self, obj: Any, section: str) -> None:
        fields = params.object_fields(obj)
        original = dict(fields)
        applied = self._connect_mapping(section, fields, extras=isinstance(obj, argparse.Namespace))
        for key, value in applied.items():
            if key not in original or original[key] is not value:
                setattr(obj, key, value)

    def _connect_mapping(self, section: str, mapping: dict[Any, Any],
                         extras: bool) -> dict[Any, Any]:
        """Store or apply the leaves of ``mapping``; updates it in place and returns it."""
        leaves = list(params.iter_leaves(mapping))
        if not self._remote:
            new = [params.to_parameter(section, leaf.name, leaf.value) for leaf in leaves]
            if new:
                self._store.set_parameters(self.id, new)
                for param in new:
                    self._stored_params[(param.section, param.name)] = param
            return mapping
        missing = []
        for leaf in leaves:
            stored = self._stored_params.get((section, leaf.name))
            if stored is None:
                missing.append(params.to_parameter(section, leaf.name, leaf.value))
                continue
            value = params.cast_like(stored, leaf.value)
            if value is not leaf.value:
                params.set_path(mapping, leaf.path, value)
        if extras:
            known = {leaf.name for leaf in leaves}
            for (stored_section, stored_name), stored in self._stored_params.items():
                if stored_section == section and stored_name not in known:
                    params.set_path(mapping, tuple(stored_name.split(".")), params.decode(stored))
        if missing:
            self._store.set_parameters(self.id, missing)
            for param in missing:
                self._stored_params[(param.section, param.name)] = param
        return mapping

    def connect_configuration(self, configuration: Any, name: str | None = None,
                              description: str = "") -> Any:
        """Record a configuration (a dict, or the path of a configuration file).

        Returns:
            The dict (updated in place with the stored one under an agent), or the path of
            the file to read (under an agent: a temporary file holding the stored text).
        """
        name = name or params.DEFAULT_SECTION
        if isinstance(configuration, dict):
            stored = self._stored_configs.get(name) if self._remote else None
            if stored is not None:
                try:
                    value = json.loads(stored.text)
                except ValueError as exc:
                    raise InvalidInput(f"configuration '{name}' is not valid JSON: {exc}") from exc
                if not isinstance(value, dict):
                    raise InvalidInput(f"configuration '{name}' must be a JSON object")
                configuration.clear()
                configuration.update(value)
                return configuration
            text = json.dumps(configuration, indent=2, default=str)
            self._store.set_configuration(self.id, Configuration(name=name, text=text,
                                                                 description=description))
            return configuration
        if isinstance(configuration, (str, Path)):
            path = Path(configuration)
            stored = self._stored_configs.get(name) if self._remote else None
            if stored is not None:
                folder = Path(tempfile.mkdtemp(prefix="tunehouse-config-"))
                local = folder / path.name
                local.write_text(stored.text)
                return str(local) if isinstance(configuration, str) else local
            try:
                text = path.read_text()
            except OSError as exc:
                raise InvalidInput(f"cannot read configuration file {path}: {exc}") from exc
            self._store.set_configuration(self.id, Configuration(name=name, text=text,
                                                                 description=description))
            return configuration
        raise InvalidInput("connect_configuration() takes a dict or a file path, not "
                           f"{type(configuration).__name__}")

    def set_parameters(self, values: Mapping[str, Any], description: str = "") -> None:
        """Store parameters given as ``{"Section/name": value}`` (no section: General)."""
        new: list[Parameter] = []
        for key, value in values.items():
            section, name = params.split_full_name(str(key))
            if isinstance(value, Mapping) and value:
                new.extend(params.to_parameter(section, f"{name}.{leaf.name}", leaf.value,
                                               description)
                           for leaf in params.iter_leaves(value))
            else:
                new.append(params.to_parameter(section, name, value, description))
        if new:
            self._store.set_parameters(self.id, new)
            for param in new:
                self._stored_params[(param.section, param.name)] = param

    def set_parameter(self, name: str, value: Any, description: str = "") -> None:
        """Store one parameter ``"Section/name"``."""
        self.set_parameters({name: value}, description)

    def get_parameters(self, cast: bool = True) -> dict[str, Any]:
        """All parameters as ``{"Section/name": value}``, typed unless ``cast=False``."""
        result = {}
        for param in self._store.get_parameters(self.id):
            key = params.full_name(param.section, param.name)
            result[key] = params.decode(param) if cast else param.value
        return result

    def get_parameter(self, name: str, default: Any = None) -> Any:
        return self.get_parameters().get(name, default)

    def get_configuration_object(self, name: str) -> str | None:
        for config in self._store.get_configurations(self.id):
            if config.name == name:
                return config.text
        return None

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
        return {a.name: a for a in self._store.list_artifacts(self.id)}

    # ================================================================ tags and status
    def add_tags(self, tags: str | list[str]) -> None:
        new = [tags] if isinstance(tags, str) else list(tags)
        current = self.reload().tags
        merged = current + [tag for tag in new if tag not in current]
        self._record = self._store.update_task(self.id, TaskUpdate(tags=merged))

    def get_tags(self) -> list[str]:
        return list(self.reload().tags)

    def set_comment(self, comment: str) -> None:
        self._record = self._store.update_task(self.id, TaskUpdate(comment=comment))

    def mark_completed(self, status_message: str = "") -> None:
        """Mark the task completed (the running task flushes its reports first)."""
        self._mark(TaskStatus.completed, "", status_message)

    def mark_failed(self, reason: str = "", status_message: str = "") -> None:
        """Mark the task failed with ``reason`` (the running task flushes first)."""
        self._mark(TaskStatus.failed, reason, status_message or reason)

    def mark_started(self) -> None:
        self._mark(TaskStatus.in_progress, "", "")

    def _mark(self, status: TaskStatus, reason: str, message: str) -> None:
        if self.running:
            self.flush()
            if status in TERMINAL:
                self._final_status_set = True
        force = status in TERMINAL and self._record.status in TERMINAL
        self._record = self._store.change_status(
            self.id, StatusChange(status=status, reason=reason, message=message, force=force))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything reported so far is stored.

        Args:
            timeout: Seconds to wait at most (default: the task's ``flush_timeout``).

        Returns:
            True when the store acknowledged everything; False on timeout (reports stay
            queued or spooled, nothing is dropped).
        """
        if self._reporter is None or self._closed:
            return True
        return bool(self._reporter.flush(self._flush_timeout if timeout is None else timeout))

    def close(self) -> None:
        """Flush, stop the capture threads, restore hooks and mark the task completed
        (unless a final status was already set)."""
        self._shutdown(TaskStatus.completed)

    # ================================================================ shutdown
    def _shutdown(self, status: TaskStatus, reason: str = "", message: str = "",
                  traceback_text: str | None = None) -> None:
        with self._close_lock:
            if self._closed or not self._running:
                return
            self._closed = True
        if self._fork_child:
            self._reporter.close(self._flush_timeout)
            return
        deadline = time.monotonic() + self._flush_timeout
        if self._monitor is not None:
            self._monitor.stop()
        for undo in self._uninstallers:
            try:
                undo()
            except Exception as exc:
                self._warn(f"tunehouse: could not remove a framework hook: {exc}")
        if traceback_text:
            for line in traceback_text.rstrip("\n").splitlines():
                self._reporter.add_log("log", line)
        if self._console is not None:
            self._console.stop()
        if self._capture_thread is not None:
            self._capture_thread.join(max(0.1, deadline - time.monotonic()))
        complete = self._reporter.close(max(0.5, deadline - time.monotonic()))
        if self._logger is not None:
            self._logger.detach()
        if not self._final_status_set:
            self._set_final_status(status, reason, message, deadline)
        if self._hooks is not None:
            self._hooks.uninstall()
        if Task._current is self:
            Task._current = None
        if not complete:
            self._warn(f"tunehouse: not every report of task {self.id} reached the store")

    def _set_final_status(self, status: TaskStatus, reason: str, message: str,
                          deadline: float) -> None:
        def change() -> None:
            record = self._store.get_task(self.id)
            final = status
            if status == TaskStatus.completed and record.abort_requested:
                final = TaskStatus.aborted
            if record.status in TERMINAL:
                return
            self._record = self._store.change_status(self.id, StatusChange(
                status=final, reason=reason, message=message[-STATUS_MESSAGE_LIMIT:]))

        try:
            retrying(change, max(deadline, time.monotonic() + 2.0))
        except InvalidTransition as exc:
            self._warn(f"tunehouse: could not mark task {self.id} {status.value}: {exc}")
        except Exception as exc:
            self._warn(f"tunehouse: could not mark task {self.id} {status.value}: {exc}")

    def _on_exit(self, exit_code: int | None) -> None:
        if exit_code:
            self._shutdown(TaskStatus.failed, reason=f"exit code {exit_code}",
                           message=f"the script exited with code {exit_code}")
        else:
            self._shutdown(TaskStatus.completed)

    def _on_exception(self, kind: type[BaseException], text: str) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._shutdown(TaskStatus.aborted, reason="KeyboardInterrupt",
                           message="interrupted (KeyboardInterrupt)", traceback_text=text)
        else:
            last = text.strip().splitlines()[-1] if text.strip() else kind.__name__
            self._shutdown(TaskStatus.failed, reason=last[:1000], message=text,
                           traceback_text=text)

    def _on_thread_exception(self, thread_name: str, text: str) -> None:
        if self._reporter is not None and not self._closed:
            self._reporter.add_log("log", f"exception in thread {thread_name}:")
            for line in text.rstrip("\n").splitlines():
                self._reporter.add_log("log", line)

    def _on_sigterm(self) -> None:
        self._shutdown(TaskStatus.aborted, reason="SIGTERM", message="terminated by SIGTERM")

    def _after_fork_in_child(self) -> None:
        """A forked child gets its own reporter (the parent's thread does not exist here);
        what the parent had buffered stays the parent's to send."""
        if not self.running:
            return
        from tunehouse.sdk.reporter import Reporter

        self._reporter = Reporter(self._store, self.id, self._settings.offline_spool,
                                  warn=self._warn)
        if self._logger is not None:
            self._logger.attach_reporter(self._reporter)
        self._console = None
        self._monitor = None
        self._capture_thread = None
        self._uninstallers = []
        if self._hooks is not None:
            self._hooks.uninstall()  # the child must not set the task's final status
            self._hooks = None
        self._fork_child = True
        atexit.register(self._reporter.close, self._flush_timeout)

    def _warn(self, message: str) -> None:
        console = self._console
        text = message.rstrip("\n") + "\n"
        try:
            if console is not None and console.active:
                console.write_stderr(text)
            else:
                sys.stderr.write(text)
                sys.stderr.flush()
        except (OSError, ValueError):
            pass

    # ================================================================ queries
    @classmethod
    def get_task(cls, task_id: str | None = None, project_name: str | None = None,
                 task_name: str | None = None) -> Task:
        """A stored task by id, or the latest task of ``project_name`` named ``task_name``.

        Raises:
            NotFound: no such task.
        """
        settings, store = cls._default_store()
        if task_id:
            return cls(store, settings, store.get_task(task_id))
        if not project_name and not task_name:
            raise InvalidInput("get_task needs task_id, or project_name and/or task_name")
        for task in cls.get_tasks(project_name=project_name, task_name=task_name):
            return task
        raise NotFound(f"no task named {task_name!r} in project {project_name!r}")

    @classmethod
    def get_tasks(cls, project_name: str | None = None, task_name: str | None = None,
                  tags: list[str] | None = None,
                  status: str | list[str] | None = None) -> list[Task]:
        """Stored tasks matching every filter given, newest first."""
        settings, store = cls._default_store()
        statuses = None
        if status is not None:
            names = [status] if isinstance(status, str) else list(status)
            try:
                statuses = [TaskStatus(name) for name in names]
            except ValueError as exc:
                raise InvalidInput(f"unknown task status in {names}") from exc
        found: list[Task] = []
        offset = 0
        while True:
            page = store.list_tasks(TaskQuery(project=project_name, name=task_name, tags=tags,
                                              status=statuses, order_by="created",
                                              descending=True, limit=1000, offset=offset))
            for record in page.tasks:
                if task_name is None or record.name == task_name:
                    found.append(cls(store, settings, record))
            offset += len(page.tasks)
            if not page.tasks or offset >= page.total:
                return found

    @classmethod
    def clone(cls, source_task: Task | str, name: str | None = None,
              parent: Task | str | None = None) -> Task:
        """A new ``created`` task with the source's parameters, configurations, script
        and environment."""
        settings, store = cls._default_store()
        source_id = source_task.id if isinstance(source_task, Task) else source_task
        parent_id = parent.id if isinstance(parent, Task) else parent
        return cls(store, settings, store.clone_task(source_id, name=name, parent_id=parent_id))

    @classmethod
    def enqueue(cls, task: Task | str, queue_name: str, priority: int = 0) -> Task:
        """Put a ``created`` task in queue ``queue_name`` for an agent to run."""
        settings, store = cls._default_store()
        task_id = task.id if isinstance(task, Task) else task
        return cls(store, settings, store.enqueue(task_id, queue_name, priority))

    def get_reported_scalars(self, max_samples: int = 0) -> dict[str, dict[str, dict[str, list]]]:
        """``{title: {series: {"x": [...], "y": [...]}}}``; ``max_samples`` > 0
        downsamples each series to at most that many points."""
        if self.running:
            self.flush()
        result: dict[str, dict[str, dict[str, list]]] = {}
        for series in self._store.get_scalars(self.id, max_points=max_samples or None):
            result.setdefault(series.title, {})[series.series] = {
                "x": list(series.x), "y": list(series.y)}
        return result

    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """``{title: {series: {"last", "min", "max"}}}`` from the metric summaries."""
        result: dict[str, dict[str, dict[str, float | None]]] = {}
        for summary in self._store.get_metric_summaries(self.id):
            result.setdefault(summary.title, {})[summary.series] = {
                "last": summary.last, "min": summary.min, "max": summary.max}
        return result

    def export_task(self) -> dict[str, Any]:
        """The whole stored record as plain data: task fields, script, diff, packages,
        environment, parameters, configurations, status, metric summaries, artifacts."""
        record = self.reload()
        script = self._store.get_script(self.id)
        environment = self._store.get_environment(self.id)
        return {
            "task": record.model_dump(mode="json"),
            "id": record.id,
            "name": record.name,
            "project": record.project,
            "status": record.status.value,
            "script": script.model_dump(mode="json"),
            "diff": script.diff,
            "packages": list(environment.packages),
            "environment": environment.model_dump(mode="json"),
            "parameters": {
                params.full_name(p.section, p.name): {
                    "value": p.value, "type": p.type, "description": p.description}
                for p in self._store.get_parameters(self.id)
            },
            "configurations": {c.name: c.text for c in self._store.get_configurations(self.id)},
            "metrics": [m.model_dump(mode="json")
                        for m in self._store.get_metric_summaries(self.id)],
            "artifacts": [a.model_dump(mode="json") for a in self._store.list_artifacts(self.id)],
        }


# ==================================================================== helpers
class _SdkTrackingProvider:
    """The SDK's :class:`~tunehouse.integrations.provider.TrackingProvider`, registered by
    ``Task.init``."""

    def current_task(self) -> TrackedTask | None:
        return Task._current

    def register_output_model(self, task: TrackedTask, path: str, *, name: str,
                              framework: str, format: str) -> Any:
        from tunehouse.sdk.models import OutputModel

        return OutputModel(task=task, name=name, framework=framework).update_weights(
            path, format=format)


_SDK_PROVIDER = _SdkTrackingProvider()
_fork_watch_installed = False


def _watch_forks() -> None:
    global _fork_watch_installed
    if _fork_watch_installed or not hasattr(os, "register_at_fork"):
        return
    _fork_watch_installed = True

    def after_in_child() -> None:
        task = Task._current
        if task is not None:
            task._after_fork_in_child()

    os.register_at_fork(after_in_child=after_in_child)


def _switches(arg_parser: bool, frameworks: bool | Mapping[str, Any],
              resources: bool | float, streams: bool,
              capture: Mapping[str, bool] | None) -> CaptureSwitches:
    interval = 5.0
    if not isinstance(resources, bool) and isinstance(resources, (int, float)):
        if resources <= 0:
            raise InvalidInput("auto_resource_monitoring interval must be > 0")
        interval = float(resources)
        resources = True
    values: dict[str, Any] = {
        "argparse": bool(arg_parser), "frameworks": frameworks, "resources": bool(resources),
        "console": bool(streams), "resource_interval": interval,
    }
    for key, value in (capture or {}).items():
        if key not in CAPTURE_SWITCHES:
            raise InvalidInput(f"unknown capture switch {key!r}; known: "
                               f"{', '.join(CAPTURE_SWITCHES)}")
        values[key] = value
    return CaptureSwitches(**values)


def _framework_option(frameworks: bool | Mapping[str, Any], name: str) -> Any:
    """``True``/``False`` or the integration's options dict for ``name``."""
    if isinstance(frameworks, Mapping):
        return frameworks.get(name, True)
    return bool(frameworks)


def _task_type(task_type: str | TaskType) -> TaskType:
    try:
        return TaskType(task_type)
    except ValueError as exc:
        raise InvalidInput(f"unknown task type {task_type!r}; known: "
                           f"{', '.join(t.value for t in TaskType)}") from exc


def _attach(store: Store, task_id: str) -> TaskRecord:
    record = store.get_task(task_id)
    if record.status != TaskStatus.in_progress:
        record = store.change_status(task_id, StatusChange(status=TaskStatus.in_progress))
    return record


def _create_or_reuse(store: Store, project: str, name: str, kind: TaskType, tags: list[str],
                     reuse: bool | str) -> TaskRecord:
    record = None
    if isinstance(reuse, str) and reuse:
        record = store.get_task(reuse)
    elif reuse is True:
        page = store.list_tasks(TaskQuery(project=project, name=name, order_by="created",
                                           descending=True, limit=20))
        latest = next((r for r in page.tasks if r.name == name), None)
        if latest is not None and _reusable(store, latest):
            record = latest
    if record is not None:
        if record.status != TaskStatus.created:
            record = store.change_status(record.id, StatusChange(
                status=TaskStatus.created, reason="reused by Task.init", force=True))
        if tags:
            record = store.update_task(record.id, TaskUpdate(tags=tags))
    else:
        record = store.create_task(TaskCreate(project=project, name=name, type=kind, tags=tags))
    return store.change_status(record.id, StatusChange(status=TaskStatus.in_progress))


def _reusable(store: Store, record: TaskRecord) -> bool:
    if record.status == TaskStatus.created:
        return True
    if record.status not in TERMINAL:
        return False
    return not store.list_artifacts(record.id) and not store.list_models(task_id=record.id)
