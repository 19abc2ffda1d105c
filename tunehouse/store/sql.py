"""The SQL implementation of the :class:`~tunehouse.store.base.Store` interface.

SQLAlchemy Core on SQLite (the embedded default, WAL mode) or PostgreSQL (psycopg 3).
The operations live in private modules by area (``_sql_tasks``, ``_sql_query``,
``_sql_events``, ``_sql_models``, ``_sql_queues``, ``_sql_users``); this module puts them
together and opens the database.
"""

from __future__ import annotations

import getpass
import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from tunehouse.settings import Settings
from tunehouse.store._sql_events import EventsMixin
from tunehouse.store._sql_models import ModelsMixin
from tunehouse.store._sql_query import QueryMixin
from tunehouse.store._sql_queues import QueuesMixin
from tunehouse.store._sql_tasks import TasksMixin
from tunehouse.store._sql_users import UsersMixin
from tunehouse.store.artifacts import ArtifactStore, LocalArtifactStore
from tunehouse.store.base import Store
from tunehouse.store.engine import dispose_engine, get_engine
from tunehouse.store.migrate import ensure_schema

__all__ = ["SqlStore"]

_checked_engines: set[Engine] = set()
_checked_lock = threading.Lock()


def default_user() -> str:
    """The OS user running this process (``unknown`` when it cannot be told)."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


class SqlStore(TasksMixin, QueryMixin, EventsMixin, ModelsMixin, QueuesMixin, UsersMixin, Store):
    """The store on a SQL database and an artifact store.

    Opening an empty database creates the schema; a database at an older schema revision
    raises :class:`~tunehouse.errors.SchemaOutOfDate` naming the upgrade command. Engines
    are shared per URL within the process, so views (:meth:`with_user`) and several
    stores on one database share one connection pool.

    Args:
        engine_url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql://...``).
        artifacts: Artifact store, or the directory of a local one.
        user: Name recorded on the records this store creates.
    """

    def __init__(self, engine_url: str, artifacts: ArtifactStore | Path | str,
                 user: str | None = None) -> None:
        self._engine = get_engine(engine_url)
        self._artifacts = (artifacts if isinstance(artifacts, ArtifactStore)
                           else LocalArtifactStore(artifacts))
        self.user = user or default_user()
        _ensure_schema_once(self._engine)

    @classmethod
    def from_settings(cls, settings: Settings, user: str | None = None) -> SqlStore:
        """The store of ``settings.db`` with artifacts under ``settings.artifacts``."""
        return cls(settings.db, settings.artifacts, user=user)

    @classmethod
    def _view(cls, engine: Engine, artifacts: ArtifactStore, user: str) -> SqlStore:
        store = cls.__new__(cls)
        store._engine = engine
        store._artifacts = artifacts
        store.user = user
        return store

    def with_user(self, user: str) -> SqlStore:
        return SqlStore._view(self._engine, self._artifacts, user)

    def close(self) -> None:
        with _checked_lock:
            _checked_engines.discard(self._engine)
        dispose_engine(self._engine)


def _ensure_schema_once(engine: Engine) -> None:
    with _checked_lock:
        if engine in _checked_engines:
            return
        ensure_schema(engine)
        _checked_engines.add(engine)
