"""The SDK's one piece of process-wide state, :data:`RUN_STATE`: the current run, the seed
of the next ``Task.init`` and the open stores.

Modules that need the current task (``Logger.current_logger()``, ``OutputModel()``,
``InputModel()``, the queries behind ``Task.get_task``) ask :data:`RUN_STATE`; they cannot
import :mod:`tunehouse.sdk.task`, which imports them. What they may use of the running
task is :class:`RunningTask`, the part of ``tunehouse.Task`` below it in the SDK, and of
its run :class:`CurrentRun` (:class:`tunehouse.sdk.run.TaskRun` has both).
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

from tunehouse.integrations.provider import TrackedTask
from tunehouse.sdk.capture.seeds import DEFAULT_SEED
from tunehouse.settings import Settings
from tunehouse.store.base import Store


class RunningTask(TrackedTask, Protocol):
    """The members of ``tunehouse.Task`` the SDK's lower modules use."""

    seed: int | None

    @property
    def store(self) -> Store:
        """The store this task reads and writes."""

    @property
    def settings(self) -> Settings:
        """The settings the task's store was opened with."""

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything reported so far is stored."""


class CurrentRun(Protocol):
    """The members of the current run (:class:`tunehouse.sdk.run.TaskRun`) read here."""

    @property
    def task(self) -> RunningTask:
        """The task being run."""

    @property
    def logger(self) -> object:
        """The run's ``tunehouse.Logger`` (None before it starts reporting)."""

    def after_fork_in_child(self) -> None:
        """Give a forked child a reporter of its own."""


class RunState:
    """Process-wide state of the SDK; the one instance is :data:`RUN_STATE`.

    Attributes:
        run: The run started by ``Task.init`` (its task is ``Task.current_task()``), from
            the start until it is closed; in a forked child, the parent's run carried over.
        seed: The seed the next ``Task.init`` applies (``Task.set_random_seed``).
        stores_by_settings: One open store per settings, shared by every task handle of
            the process (guarded by ``lock``).
        fork_watch: Whether the ``os.register_at_fork`` hook is registered (once per
            process: it cannot be removed).
    """

    def __init__(self) -> None:
        self.run: CurrentRun | None = None
        self.seed: int | None = DEFAULT_SEED
        self.stores_by_settings: dict[Settings, Store] = {}
        self.lock = threading.Lock()
        self.fork_watch = False

    def current_task(self) -> RunningTask | None:
        """The task started by ``Task.init``, or None."""
        run = self.run
        return run.task if run is not None else None

    def store_for(self, settings: Settings) -> Store:
        """The process's store for ``settings`` (opened on first use)."""
        with self.lock:
            store = self.stores_by_settings.get(settings)
            if store is None:
                from tunehouse.client import open_store

                store = open_store(settings)
                self.stores_by_settings[settings] = store
            return store

    def default_store(self) -> tuple[Settings, Store]:
        """The running task's settings and store, else those of ``Settings.from_env()``."""
        task = self.current_task()
        if task is not None:
            return task.settings, task.store
        settings = Settings.from_env()
        return settings, self.store_for(settings)

    def watch_forks(self) -> None:
        """Give a forked child's current run a reporter of its own (registered once)."""
        if self.fork_watch or not hasattr(os, "register_at_fork"):
            return
        self.fork_watch = True

        def after_in_child() -> None:
            run = self.run
            if run is not None:
                run.after_fork_in_child()

        os.register_at_fork(after_in_child=after_in_child)


RUN_STATE = RunState()
