"""Alembic environment of the tunehouse store.

Configured programmatically by :mod:`tunehouse.store.migrate` (no ``alembic.ini``): the
caller passes an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from tunehouse.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through tunehouse.store.migrate
    raise RuntimeError("run migrations through tunehouse.store.migrate.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
