"""The run of the task started by ``Task.init``: start, capture, exit handling, close.

:class:`TaskRun` is what a running ``tunehouse.Task`` has and a handle from
``get_task`` lacks: the background reporter and the :class:`~tunehouse.sdk.logger.Logger`,
the auto-capture (console, resources, seeds, git and environment, framework and argparse
hooks), the exit, exception and SIGTERM handlers that flush and set the final status, and
the hand-over to a forked child. Everything it installs is removed by :meth:`TaskRun.shutdown`
(``task.close()``), except ``os.register_at_fork``, which cannot be undone: that hook does
nothing while no run is current.

The run is current (:data:`tunehouse.sdk.state.RUN_STATE`) from :meth:`TaskRun.start` until
:meth:`TaskRun.shutdown`. It knows its task as :class:`~tunehouse.sdk.state.RunningTask`:
:mod:`tunehouse.sdk.task` imports this module, never the other way round.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunehouse.common.environment_extra import CODE_ROOT_KEY, WARM_IMPORTS_KEY
from tunehouse.common.retry import retrying
from tunehouse.errors import InvalidInput
from tunehouse.integrations import argparse_hook
from tunehouse.integrations.frameworks import connect_frameworks, integration_names
from tunehouse.integrations.provider import TrackedTask, set_provider
from tunehouse.sdk.artifacts import upload_bytes
from tunehouse.sdk.capture.seeds import apply_seed
from tunehouse.sdk.lifecycle import ExitHooks
from tunehouse.sdk.logger import Logger
from tunehouse.sdk.models import OutputModel
from tunehouse.sdk.state import RUN_STATE, RunningTask
from tunehouse.store.records import (
    Environment,
    EventBatch,
    ScalarEvent,
    StatusChange,
    TaskStatus,
    TaskUpdate,
)
from tunehouse.store.records import Task as TaskRecord
from tunehouse.store.status import TERMINAL

if TYPE_CHECKING:
    from tunehouse.sdk.connect import ParameterBinding
    from tunehouse.sdk.offline import OfflineRun

CAPTURE_SWITCHES = ("git", "packages", "environment", "console", "resources", "seeds",
                    "argparse", "frameworks")
STATUS_MESSAGE_LIMIT = 64 * 1024


class SdkTrackingProvider:
    """The SDK's :class:`~tunehouse.integrations.provider.TrackingProvider`, registered by
    ``Task.init``."""

    def current_task(self) -> TrackedTask | None:
        return RUN_STATE.current_task()

    def register_output_model(self, task: TrackedTask, path: str, *, name: str | None,
                              framework: str, format: str) -> Any:
        return OutputModel(task=task, name=name, framework=framework).update_weights(
            path, format=format)


SDK_PROVIDER = SdkTrackingProvider()


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


def capture_switches(arg_parser: bool, frameworks: bool | Mapping[str, Any],
                     resources: bool | float, streams: bool,
                     capture: Mapping[str, bool] | None) -> CaptureSwitches:
    """The switches from ``Task.init``'s keyword arguments and its ``capture`` dict."""
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


class TaskRun:
    """The running part of the task from ``Task.init`` (internal to the SDK).

    Args:
        task: The task being run (its public face).
        parameters: The task's parameter binding (loads the stored values under an agent).
        remote: The task was attached under an agent (``TUNEHOUSE_TASK_ID``).
        offline: The offline run the task records into, when the server was unreachable.
        flush_timeout: Seconds close, exit and exception handling wait for reports.
        set_record: Receives the task record after the final status change.
    """

    def __init__(self, task: RunningTask, parameters: ParameterBinding, remote: bool,
                 flush_timeout: float, set_record: Callable[[TaskRecord], None],
                 offline: OfflineRun | None = None) -> None:
        self.task = task
        self.offline = offline
        self._store = task.store
        self._settings = task.settings
        self._parameters = parameters
        self._set_record = set_record
        self.remote = remote
        #: Launched by an agent for one attempt: the agent streams the console and sets the
        #: final status from the exit code, so the run does neither.
        self.agent_managed = remote and task.settings.fence is not None
        self.flush_timeout = flush_timeout
        self.reporter: Any = None
        self.logger: Logger | None = None
        self._started = False
        self.closed = False
        self._close_lock = threading.Lock()
        self._final_status_set = False
        self._uninstallers: list[Callable[[], None]] = []
        self._console: Any = None
        self._monitor: Any = None
        self._capture_thread: threading.Thread | None = None
        self._hooks: ExitHooks | None = None
        self._fork_child = False
        #: The recorded environment and the distributions' module names (for its imports).
        self._environment: Environment | None = None
        self._distribution_modules: frozenset[str] = frozenset()

    @property
    def running(self) -> bool:
        """Started and not yet closed."""
        return self._started and not self.closed

    # ================================================================ start
    def start(self, switches: CaptureSwitches) -> None:
        """Become the current run and start reporting and every capture switched on."""
        from tunehouse.sdk.reporter import Reporter

        RUN_STATE.run = self
        self._started = True
        if self.remote:
            self._parameters.load_stored()
        self.reporter = Reporter(self._store, self.task.id, self._settings.offline_spool,
                                 warn=self.warn)
        self.logger = Logger(self.task, self.reporter)
        RUN_STATE.watch_forks()
        if switches.seeds and RUN_STATE.seed is not None:
            apply_seed(RUN_STATE.seed)
            self.task.seed = RUN_STATE.seed
        if switches.console and not self.agent_managed:
            from tunehouse.sdk.capture.console import ConsoleCapture

            self._console = ConsoleCapture(self.reporter.add_log)
            self._console.start()
        self._hooks = ExitHooks(self._on_exit, self._on_exception, self._on_thread_exception,
                                self._on_sigterm)
        self._hooks.install()
        if switches.resources:
            from tunehouse.sdk.capture.resources import ResourceMonitor

            self._monitor = ResourceMonitor(self.logger.report_scalar,
                                            switches.resource_interval)
            self._monitor.start()
        self._connect_frameworks(switches)
        if switches.git or switches.environment:  # last: it would slow the steps above
            self._capture_thread = threading.Thread(
                target=self._capture_code_and_environment, args=(switches,),
                name="tunehouse-capture", daemon=True)
            self._capture_thread.start()

    def _connect_frameworks(self, switches: CaptureSwitches) -> None:
        set_provider(SDK_PROVIDER)
        config: dict[str, Any] = {name: _framework_option(switches.frameworks, name)
                                  for name in integration_names()}
        config["argparse"] = switches.argparse
        self._uninstallers = connect_frameworks(self.task, config)
        # the argparse integration, when on, now holds the patch and was handed the
        # namespaces parsed before Task.init: the import-time recording has done its job
        argparse_hook.end_early_recording()

    def _capture_code_and_environment(self, switches: CaptureSwitches) -> None:
        from tunehouse.sdk.capture.environment import capture_environment, distribution_modules
        from tunehouse.sdk.capture.git import capture_code

        task_id = self.task.id
        deadline = time.monotonic() + max(self.flush_timeout, 10.0)
        code = None
        try:
            if switches.git:
                code = capture_code()
                existing = self._store.tasks.get_script(task_id) if self.remote else None
                if existing is None or not (existing.repository or existing.script_text):
                    retrying(lambda: self._store.tasks.set_script(task_id, code.script), deadline)
                if code.large_diff is not None:
                    upload_bytes(self._store, task_id, "git_diff",
                                 code.large_diff.encode("utf-8"),
                                 kind="diff", content_type="text/x-diff")
            if switches.environment:
                env = capture_environment(self.task.seed, packages=switches.packages)
                if code is not None and code.root:  # see tunehouse.agent.workspace
                    env = env.model_copy(update={"extra": {**env.extra,
                                                           CODE_ROOT_KEY: code.root}})
                retrying(lambda: self._store.tasks.set_environment(task_id, env), deadline)
                self._distribution_modules = distribution_modules()
                self._environment = env
        except Exception as exc:
            self.warn(f"tunehouse: could not record the code/environment: {exc}")

    # ================================================================ while running
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything reported so far is stored (see ``Task.flush``)."""
        if self.reporter is None or self.closed:
            return True
        return bool(self.reporter.flush(self.flush_timeout if timeout is None else timeout))

    def wait_for_capture(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the code and environment capture; True once
        it is over (or was never started)."""
        thread = self._capture_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def note_final_status(self) -> None:
        """The task's final status was set explicitly: closing keeps it."""
        self._final_status_set = True

    def warn(self, message: str) -> None:
        """Print one line for the user on stderr (past the console capture)."""
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

    # ================================================================ shutdown
    def shutdown(self, status: TaskStatus, reason: str = "", message: str = "",
                 traceback_text: str | None = None) -> None:
        """Flush, stop the capture, undo every hook and set the final ``status`` (unless
        one was set already); only the first call does anything."""
        with self._close_lock:
            if self.closed or not self._started:
                return
            self.closed = True
        if self._fork_child:
            self.reporter.close(self.flush_timeout)
            atexit.unregister(self.reporter.close)
            return
        deadline = time.monotonic() + self.flush_timeout
        if self._monitor is not None:
            self._monitor.stop()
        for undo in self._uninstallers:
            try:
                undo()
            except Exception as exc:
                self.warn(f"tunehouse: could not remove a framework hook: {exc}")
        if traceback_text and not self.agent_managed:  # the agent keeps the real stderr
            for line in traceback_text.rstrip("\n").splitlines():
                self.reporter.add_log("log", line)
        if self._console is not None:
            self._console.stop()
        if self._capture_thread is not None:
            self._capture_thread.join(max(0.1, deadline - time.monotonic()))
        self._record_imports(deadline)
        complete = self.reporter.close(max(0.5, deadline - time.monotonic()))
        if self.logger is not None:
            self.logger.detach()
        lost = self._record_lost_reports(deadline)
        if lost:
            message = f"{lost}\n{message}" if message else lost
        if not self._final_status_set and not self.agent_managed:
            self._set_final_status(status, reason, message, deadline)
        elif lost:
            self._try(lambda: self._store.tasks.update_task(
                self.task.id, TaskUpdate(status_message=message[-STATUS_MESSAGE_LIMIT:])),
                deadline, f"could not record the lost reports of task {self.task.id}")
        if self._hooks is not None:
            self._hooks.uninstall()
        if RUN_STATE.run is self:
            RUN_STATE.run = None
        if self.offline is not None:
            self.offline.release()  # `tunehouse sync` may upload it now
        if not complete:
            self.warn(f"tunehouse: not every report of task {self.task.id} reached the store")

    def _record_imports(self, deadline: float) -> None:
        """Add the modules of installed distributions imported by now to the recorded
        environment: what an agent's warm interpreter imports ahead of a clone."""
        from tunehouse.sdk.capture.environment import imported_distribution_modules

        env = self._environment
        if env is None:
            return
        imports = imported_distribution_modules(self._distribution_modules)
        env = env.model_copy(update={"extra": {**env.extra, WARM_IMPORTS_KEY: imports}})
        self._try(lambda: self._store.tasks.set_environment(self.task.id, env), deadline,
                  f"could not record the imports of task {self.task.id}")

    def _record_lost_reports(self, deadline: float) -> str:
        """When reports were dropped (spool unwritable and memory full), say so in the
        task: a ``:dropped:/reports`` scalar with their count. Returns the line saying how
        many were lost and why (empty when none were)."""
        lost = self.reporter.lost_reports
        if not lost:
            return ""
        batch = EventBatch(batch_id=f"{self.task.id}.dropped", task_id=self.task.id,
                           scalars=[ScalarEvent(":dropped:", "reports", 0,
                                                float(self.reporter.dropped_events),
                                                time.time())])
        self._try(lambda: self._store.events.add_events(batch), deadline,
                  f"could not record the lost reports of task {self.task.id}")
        return lost

    def _try(self, action: Callable[[], object], deadline: float, failure: str) -> None:
        """``action()``, retried until ``deadline`` (at least 2 s); when it still fails,
        one line on stderr (``failure``: the reason)."""
        try:
            retrying(action, max(deadline, time.monotonic() + 2.0))
        except Exception as exc:
            self.warn(f"tunehouse: {failure}: {exc}")

    def _set_final_status(self, status: TaskStatus, reason: str, message: str,
                          deadline: float) -> None:
        task_id = self.task.id

        def change() -> None:
            record = self._store.tasks.get_task(task_id)
            final = status
            if status == TaskStatus.completed and record.abort_requested:
                final = TaskStatus.aborted
            if record.status in TERMINAL:
                return
            self._set_record(self._store.tasks.change_status(task_id, StatusChange(
                status=final, reason=reason, message=message[-STATUS_MESSAGE_LIMIT:])))

        self._try(change, deadline, f"could not mark task {task_id} {status.value}")

    def _on_exit(self, exit_code: int | None) -> None:
        if exit_code:
            self.shutdown(TaskStatus.failed, reason=f"exit code {exit_code}",
                          message=f"the script exited with code {exit_code}")
        else:
            self.shutdown(TaskStatus.completed)

    def _on_exception(self, kind: type[BaseException], text: str) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self.shutdown(TaskStatus.aborted, reason="KeyboardInterrupt",
                          message="interrupted (KeyboardInterrupt)", traceback_text=text)
        else:
            last = text.strip().splitlines()[-1] if text.strip() else kind.__name__
            self.shutdown(TaskStatus.failed, reason=last[:1000], message=text,
                          traceback_text=text)

    def _on_thread_exception(self, thread_name: str, text: str) -> None:
        if self.reporter is not None and not self.closed:
            self.reporter.add_log("log", f"exception in thread {thread_name}:")
            for line in text.rstrip("\n").splitlines():
                self.reporter.add_log("log", line)

    def _on_sigterm(self) -> None:
        self.shutdown(TaskStatus.aborted, reason="SIGTERM", message="terminated by SIGTERM")

    def after_fork_in_child(self) -> None:
        """A forked child gets its own reporter (the parent's thread does not exist here);
        what the parent had buffered stays the parent's to send."""
        if not self.running:
            return
        from tunehouse.sdk.reporter import Reporter

        self.reporter = Reporter(self._store, self.task.id, self._settings.offline_spool,
                                 warn=self.warn)
        if self.logger is not None:
            self.logger.attach_reporter(self.reporter)
        self._console = None
        self._monitor = None
        self._capture_thread = None
        self._uninstallers = []
        if self._hooks is not None:
            self._hooks.uninstall()  # the child must not set the task's final status
            self._hooks = None
        self._fork_child = True
        atexit.register(self.reporter.close, self.flush_timeout)
