"""How framework integrations reach the tracking SDK without importing it.

The SDK (:mod:`tunehouse.sdk`) depends on the integrations, never the other way round: no
module under ``tunehouse.integrations`` imports ``tunehouse.sdk``. An integration sees

* the task handed to its ``attach(task, options)`` (see the table in
  :mod:`tunehouse.integrations.frameworks`), typed as :class:`TrackedTask`: the few members
  of ``tunehouse.Task`` an integration may use;
* the process-wide :class:`TrackingProvider`, for what is not a method of a task: the task
  started by ``Task.init`` and registering a saved model as an output model of a task.
  ``Task.init`` registers the SDK's implementation with :func:`set_provider`; before that
  (or in a process that only imports tunehouse) there is none, and :func:`current_task`
  returns ``None``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ScalarLogger(Protocol):
    """The part of ``tunehouse.Logger`` integrations report through."""

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """Record ``value`` of ``title``/``series`` at ``iteration`` (never blocks)."""


class TrackedTask(Protocol):
    """The members of ``tunehouse.Task`` an integration may use."""

    @property
    def id(self) -> str:
        """The task id."""

    @property
    def running(self) -> bool:
        """True for the task started by ``Task.init`` until it is closed."""

    @property
    def seed(self) -> int | None:
        """The seed ``Task.init`` applied, or ``None``."""

    def get_logger(self) -> ScalarLogger:
        """The logger of the running task."""

    def connect(self, obj: T, name: str | None = None) -> T:
        """Record ``obj``'s values as parameters (an ``argparse.Namespace``: section
        ``Args``) and return it, with the stored values under an agent."""


class TrackingProvider(Protocol):
    """What the SDK offers integrations beyond the task they were connected to."""

    def current_task(self) -> TrackedTask | None:
        """The task started by ``Task.init`` in this process, or ``None``."""

    def register_output_model(self, task: TrackedTask, path: str, *, name: str | None,
                              framework: str, format: str) -> Any:
        """Upload the model file or folder at ``path`` as the next version of output model
        ``name`` of ``task`` (``None``: the SDK's default, named after the task); returns
        the stored ``tunehouse.store.records.Model``."""


_provider: TrackingProvider | None = None


def set_provider(provider: TrackingProvider | None) -> None:
    """Register the SDK's provider (``Task.init`` does); ``None`` removes it."""
    global _provider
    _provider = provider


def get_provider() -> TrackingProvider | None:
    """The registered provider, or ``None`` before the first ``Task.init``."""
    return _provider


def current_task() -> TrackedTask | None:
    """The task started by ``Task.init`` in this process, or ``None``."""
    provider = _provider
    return provider.current_task() if provider is not None else None
