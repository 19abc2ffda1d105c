"""Databases for tests and benchmarks, created from templates migrated once per process.

Migrating an empty database to the newest schema runs every Alembic migration (about a
second on SQLite, more on PostgreSQL). Tests that only need *a* database with the schema
take a copy of a template instead:

* SQLite: :func:`copy_sqlite_template` copies a file migrated once per process
  (:func:`sqlite_template`) to where a store or a server will open it;
* PostgreSQL: :func:`create_pg_database` with ``template=`` makes a copy with
  ``CREATE DATABASE ... TEMPLATE`` of a database migrated once per process
  (:func:`pg_template`).

Every PostgreSQL database made here has a random name and is dropped by its creator (the
templates when the process exits), so parallel test workers never see each other's rows.
The server is ``TUNEHOUSE_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = os.environ.get(
    "TUNEHOUSE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: The file name of the embedded database in a data directory (the ``db`` setting's default).
SQLITE_FILE = "tunehouse.db"


@functools.cache
def sqlite_template() -> Path:
    """A SQLite database at the newest schema (no rows), made once per process."""
    from tunehouse.store.sql import SqlStore

    folder = Path(tempfile.mkdtemp(prefix="tunehouse-sqlite-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / SQLITE_FILE
    SqlStore(f"sqlite:///{path}", folder / "artifacts").close()  # checkpoints the WAL
    return path


def copy_sqlite_template(path: Path) -> str:
    """Copy the migrated template to ``path`` (mode kept: 0600); returns its URL."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(sqlite_template(), path)
    return f"sqlite:///{path}"


def _admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def pg_database_url(name: str) -> str:
    """The URL of database ``name`` on the test PostgreSQL server."""
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def create_pg_database(template: str | None = None, prefix: str = "th_t") -> str:
    """Create a database with a random name (a copy of ``template`` when given); its name."""
    from sqlalchemy import text

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    finally:
        admin.dispose()
    return name


def drop_pg_database(name: str) -> None:
    from sqlalchemy import text

    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@functools.cache
def pg_template() -> str:
    """The name of a PostgreSQL database at the newest schema (no rows), migrated once per
    process and dropped at exit. Nothing stays connected to it (``CREATE DATABASE ...
    TEMPLATE`` requires that)."""
    from tunehouse.store.sql import SqlStore

    name = create_pg_database(prefix="th_tmpl")
    atexit.register(drop_pg_database, name)
    folder = Path(tempfile.mkdtemp(prefix="tunehouse-pg-template-"))
    atexit.register(shutil.rmtree, folder, True)
    SqlStore(pg_database_url(name), folder / "artifacts").close()  # disposes the engine
    return name


@contextmanager
def pg_database(migrated: bool = True) -> Iterator[str]:
    """The URL of a new PostgreSQL database (with the schema unless ``migrated`` is False),
    dropped when the block ends."""
    name = create_pg_database(template=pg_template() if migrated else None)
    try:
        yield pg_database_url(name)
    finally:
        drop_pg_database(name)


def embedded_store(home: Path):  # type: ignore[no-untyped-def]
    """The embedded store of data directory ``home`` (``SqlStore`` on
    ``home/tunehouse.db``), its database copied from the template when it has none yet."""
    from tunehouse.settings import Settings
    from tunehouse.store.sql import SqlStore

    if not (home / SQLITE_FILE).exists():
        copy_sqlite_template(home / SQLITE_FILE)
    return SqlStore.from_settings(Settings.from_env(env={}, home=home))
