"""The Store: one object that gives a process every area of tunehouse's records.

A :class:`Store` holds one implementation of each area interface
(:mod:`tunehouse.store.interfaces`): ``store.tasks``, ``store.events``,
``store.artifacts``, ``store.models`` and ``store.queues``. Two implementations keep the
contract, and the contract suite (``tests/store/contract/``) runs per area against each:

* :class:`tunehouse.store.sql.SqlStore` – SQLAlchemy on SQLite (embedded default) or
  PostgreSQL; used by the server and by the SDK in embedded mode.
* :class:`tunehouse.client.http.HttpStore` – speaks the server's JSON API.

Users, API keys, sessions, roles, the audit log and preferences are not part of it: they
are the account areas of :mod:`tunehouse.store.accounts`, which only the server and the
admin commands open (a training script's store cannot check passwords).

Contract every implementation keeps:

* Methods are thread-safe; returned records are immutable pydantic models.
* A missing record raises :class:`~tunehouse.errors.NotFound`, bad input
  :class:`~tunehouse.errors.InvalidInput`, a clash :class:`~tunehouse.errors.Conflict`
  (status changes the machine forbids: :class:`~tunehouse.errors.InvalidTransition`).
* Every record created carries the acting user: the store's ``user`` (embedded mode: the
  OS user; server: the authenticated principal, via :meth:`Store.with_user`).
* Writes are atomic: a call either fully happens or raises and changes nothing.
  ``events.add_events`` with a ``batch_id`` already stored changes nothing and says so.
* A view made by :meth:`Store.with_fence` refuses writes to its task from an attempt
  that is over (:class:`~tunehouse.errors.StaleAttempt`, 409).
* Ids are opaque strings. Task ids may be given by prefix in the CLI, never here.
"""

from __future__ import annotations

import abc
from typing import Self

from tunehouse.store.interfaces import (
    ArtifactStore,
    EventStore,
    ModelStore,
    QueueStore,
    TaskStore,
)

__all__ = ["ArtifactStore", "EventStore", "ModelStore", "QueueStore", "Store", "TaskStore"]


class Store(abc.ABC):
    """All areas of the records, acting as one user. See the module docstring."""

    #: Projects, tasks, parameters, configurations, script, environment, status.
    tasks: TaskStore
    #: Scalars and console lines.
    events: EventStore
    #: Blobs and task artifacts.
    artifacts: ArtifactStore
    #: The model registry.
    models: ModelStore
    #: Queues, claims and workers.
    queues: QueueStore

    @property
    @abc.abstractmethod
    def user(self) -> str:
        """Name of the acting user recorded on every record this store creates."""

    @abc.abstractmethod
    def with_user(self, user: str) -> Store:
        """A view of the same store acting as ``user`` (shares connections; closing a
        view releases nothing)."""

    @abc.abstractmethod
    def with_fence(self, task_id: str, attempt: int) -> Store:
        """A view of the same store that writes for ``attempt`` of ``task_id`` only: once
        that attempt is over (its lease lost, the task requeued, ended or claimed again)
        every write this view makes to the task raises
        :class:`~tunehouse.errors.StaleAttempt`, so a process left over from an old attempt
        cannot overwrite a newer one. Writes to other tasks are not affected."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
