"""The SQL implementation of the :class:`~tunehouse.store.base.Store`.

SQLAlchemy Core on SQLite (the embedded default, WAL mode) or PostgreSQL (psycopg 3).
Each area is its own object over the one :class:`~tunehouse.store.sql.database.Database`:
``tasks`` (:mod:`.tasks`, listings in :mod:`.task_query`), ``events`` (:mod:`.events`),
``artifacts`` (:mod:`.artifacts`), ``models`` (:mod:`.models`) and ``queues``
(:mod:`.queues`); status changes of both tasks and queues go through :mod:`.status`.
"""

from __future__ import annotations

import getpass
import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.blob_location import open_blob_storage
from tunehouse.store.blob_storage import BlobStorage, LocalBlobStorage
from tunehouse.store.engine import dispose_engine, get_engine
from tunehouse.store.migrate import ensure_schema
from tunehouse.store.sql.artifacts import SqlArtifactStore
from tunehouse.store.sql.clearml_models import SqlClearmlModelStore
from tunehouse.store.sql.database import NO_CONTEXT, AuditContext, Database, Fence
from tunehouse.store.sql.events import SqlEventStore
from tunehouse.store.sql.models import SqlModelStore
from tunehouse.store.sql.queues import SqlQueueStore
from tunehouse.store.sql.tasks import SqlTaskStore

__all__ = ["SqlStore", "default_user"]

_checked_engines: set[Engine] = set()
_checked_lock = threading.Lock()


def default_user() -> str:
    """The OS user running this process (``unknown`` when it cannot be told)."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


class SqlStore(Store):
    """The store on a SQL database and a blob storage.

    Opening an empty database creates the schema; a database at an older schema revision
    raises :class:`~tunehouse.errors.SchemaOutOfDate` naming the upgrade command. Engines
    are shared per URL within the process, so views (:meth:`with_user`) and several
    stores on one database share one connection pool.

    Args:
        engine_url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql://...``).
        blobs: Blob storage, or the directory of a local one.
        user: Name recorded on the records this store creates.
        fence: The (task id, attempt) to fence writes to (see :meth:`with_fence`).
    """

    tasks: SqlTaskStore
    events: SqlEventStore
    artifacts: SqlArtifactStore
    models: SqlModelStore
    #: ClearML's model records (only the SQL store has them: the ClearML API's).
    clearml_models: SqlClearmlModelStore
    queues: SqlQueueStore

    def __init__(self, engine_url: str, blobs: BlobStorage | Path | str,
                 user: str | None = None, fence: Fence | None = None) -> None:
        engine = get_engine(engine_url)
        storage = blobs if isinstance(blobs, BlobStorage) else LocalBlobStorage(blobs)
        _ensure_schema_once(engine)
        self._bind(Database(engine, storage), user or default_user(), owner=True, fence=fence)

    def _bind(self, db: Database, user: str, owner: bool, fence: Fence | None = None,
              context: AuditContext = NO_CONTEXT) -> None:
        self.db = db
        self._user = user
        self._owner = owner
        self._fence = fence
        self.context = context
        self.tasks = SqlTaskStore(db, user, fence, context)
        self.events = SqlEventStore(db, user, fence, context)
        self.artifacts = SqlArtifactStore(db, user, fence, context)
        self.models = SqlModelStore(db, user, fence, context)
        self.clearml_models = SqlClearmlModelStore(db, user, fence, context)
        self.queues = SqlQueueStore(db, user, fence, context)

    @classmethod
    def from_settings(cls, settings: Settings, user: str | None = None) -> SqlStore:
        """The store of ``settings.db`` with blobs where ``settings.artifacts`` says (a
        directory or ``s3://``), acting as ``user`` (else ``settings.act_as``, else the OS
        user), fenced by ``settings.fence``."""
        return cls(settings.db, open_blob_storage(settings), user=user or settings.act_as,
                   fence=settings.fence)

    @property
    def user(self) -> str:
        return self._user

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def with_user(self, user: str) -> SqlStore:
        view = object.__new__(SqlStore)
        view._bind(self.db, user, owner=False, fence=self._fence, context=self.context)
        return view

    def with_fence(self, task_id: str, attempt: int) -> SqlStore:
        view = object.__new__(SqlStore)
        view._bind(self.db, self._user, owner=False, fence=(task_id, attempt),
                   context=self.context)
        return view

    def with_context(self, actor: str | None = None, client: str | None = None) -> SqlStore:
        """The same store, its audit entries naming ``actor`` (the authenticated user when
        it acts for this view's user; None when they are the same) and ``client`` (the
        address of the request's client). The server makes one per request; the views
        made from it (:meth:`with_user`, :meth:`with_fence`) keep both."""
        view = object.__new__(SqlStore)
        view._bind(self.db, self._user, owner=False, fence=self._fence,
                   context=AuditContext(actor=actor or None, client=client or None))
        return view

    def close(self) -> None:
        """Dispose of the engine's connections; a view (:meth:`with_user`,
        :meth:`with_fence`, :meth:`with_context`) releases
        nothing, since the store it came from still uses them."""
        if not self._owner:
            return
        self.db.close()
        with _checked_lock:
            _checked_engines.discard(self.db.engine)
        dispose_engine(self.db.engine)


def _ensure_schema_once(engine: Engine) -> None:
    with _checked_lock:
        if engine in _checked_engines:
            return
        ensure_schema(engine)
        _checked_engines.add(engine)
