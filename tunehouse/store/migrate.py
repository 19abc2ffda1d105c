"""Schema migrations of the SQL store (Alembic, shipped inside the package).

``tunehouse db upgrade --db URL`` calls :func:`upgrade`; the store calls
:func:`ensure_schema` when it opens a database: an empty database is created at the
newest revision, an out-of-date one is refused with the command that upgrades it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tunehouse.errors import SchemaOutOfDate
from tunehouse.store.engine import get_engine, safe_url, write_options

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: The newest revision in ``migrations/versions``. Opening a store compares the database
#: with this constant instead of loading Alembic (about 100 ms of every embedded
#: ``Task.init``); ``tests/store/test_migrations.py`` checks it equals Alembic's head.
HEAD_REVISION = "0013"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations (no ini file)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this version of tunehouse knows, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it has never been migrated."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(url: str, revision: str = "head") -> str:
    """Migrate the database at ``url`` to ``revision``; returns the revision reached."""
    engine = get_engine(url)
    upgrade_engine(engine, revision)
    reached = current_revision(engine)
    assert reached is not None
    return reached


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision``."""
    from alembic import command

    config = alembic_config()
    with engine.connect() as conn:
        conn.execution_options(**write_options())
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if conn.in_transaction():
            conn.commit()


def upgrade_command(engine: Engine) -> str:
    """The command that upgrades this database (password left out)."""
    return f"tunehouse db upgrade --db {safe_url(engine.url)}"


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the head revision."""
    current = current_revision(engine)
    head = HEAD_REVISION
    if current == head:
        return
    if current is None:
        state = "has tables but no tunehouse schema version"
    else:
        state = f"is at schema revision {current}, this tunehouse needs {head}"
    raise SchemaOutOfDate(
        f"the database {state}; run: {upgrade_command(engine)}",
        detail={"current": current, "head": head},
    )


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database, else check that it is up to date."""
    if not sa.inspect(engine).get_table_names():
        try:
            upgrade_engine(engine)
        except sa.exc.DBAPIError:
            # Another process may have created it at the same time; the check decides.
            if not sa.inspect(engine).get_table_names():
                raise
    check_schema(engine)
