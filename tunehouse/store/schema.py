"""Database tables of the SQL store (SQLAlchemy Core).

The Alembic migrations in ``tunehouse/store/migrations`` create exactly these tables; a
test compares the migrated schema with this metadata. Change both together.

Conventions: ids are uuid4 hex strings (``scalars``, ``metrics`` and ``audit_events``
use integers because they are many and internal); times are timezone-aware UTC; every
row a user creates carries that user's name in ``user`` (``created_by`` where ``user``
means the owner).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

ID_LENGTH = 32
NAME_LENGTH = 255

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonDocument(sa.TypeDecorator[Any]):
    """JSON documents; JSONB on PostgreSQL (indexable, ``@>`` for tag filters).

    The PostgreSQL dialect is imported when a PostgreSQL connection first needs the type,
    so that the embedded store (SQLite) never loads it: it is a sizeable share of
    ``Task.init``'s import time (docs/sdk.md)."""

    impl = sa.JSON
    cache_ok = True
    # as sa.JSON: None is stored as JSON null, values are not hashable
    should_evaluate_none = True
    hashable = False

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.JSON())


Json = JsonDocument()


class _SqliteExactDouble(sa.types.UserDefinedType[float]):
    """A SQLite column without type affinity (declared ``BLOB``) for doubles: in a REAL
    column SQLite stores a float without fraction as an integer, so -0.0 came back as 0.0;
    without affinity the float is stored as given. Values are bound and read as floats."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "BLOB"


#: A double that keeps the sign of zero: ``FLOAT`` (double precision) on PostgreSQL.
ExactFloat = sa.Float().with_variant(_SqliteExactDouble(), "sqlite")


def _id(**kwargs: Any) -> sa.Column[str]:
    return sa.Column("id", sa.String(ID_LENGTH), primary_key=True, **kwargs)


def _task_fk(name: str = "task_id", **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(ID_LENGTH),
                     sa.ForeignKey("tasks.id", ondelete="CASCADE"), **kwargs)


def _user() -> sa.Column[str]:
    return sa.Column("user", sa.String(NAME_LENGTH), nullable=False)


def _created() -> sa.Column[datetime]:
    return sa.Column("created", UtcDateTime(), nullable=False)


projects = sa.Table(
    "projects", metadata,
    _id(),
    sa.Column("name", sa.String(1024), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    _user(),
    _created(),
)

tasks = sa.Table(
    "tasks", metadata,
    _id(),
    sa.Column("project_id", sa.String(ID_LENGTH),
              sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_reason", sa.Text(), nullable=False, default=""),
    sa.Column("status_message", sa.Text(), nullable=False, default=""),
    sa.Column("parent_id", sa.String(ID_LENGTH),
              sa.ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True),
    sa.Column("tags", Json, nullable=False),
    sa.Column("comment", sa.Text(), nullable=False, default=""),
    _user(),
    _created(),
    sa.Column("started", UtcDateTime(), nullable=True),
    sa.Column("completed", UtcDateTime(), nullable=True),
    sa.Column("updated", UtcDateTime(), nullable=False),
    sa.Column("queue", sa.String(NAME_LENGTH), nullable=True),
    sa.Column("queue_priority", sa.Integer(), nullable=False, default=0),
    sa.Column("worker", sa.String(NAME_LENGTH), nullable=True),
    #: The user that claimed the current attempt (an agent account; the search's owner
    #: for a search's own agent): who may act for the task's owner while it runs.
    sa.Column("runner", sa.String(NAME_LENGTH), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=False, default=0),
    sa.Column("max_retries", sa.Integer(), nullable=False, default=0),
    sa.Column("last_iteration", sa.BigInteger(), nullable=True),
    sa.Column("abort_requested", sa.Boolean(), nullable=False, default=False),
    sa.Column("last_seen", UtcDateTime(), nullable=True),
    sa.Column("lease_expires", UtcDateTime(), nullable=True),
    sa.Index(None, "project_id", "created"),
    sa.Index(None, "project_id", "updated"),
    sa.Index(None, "project_id", "status", "created"),
    sa.Index(None, "created"),
    sa.Index(None, "status"),
    sa.Index(None, "parent_id"),
    sa.Index(None, "status", "last_seen"),
    sa.Index(None, "status", "lease_expires"),
)

parameters = sa.Table(
    "parameters", metadata,
    _task_fk(primary_key=True),
    sa.Column("section", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("name", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    _user(),
    # ``value`` as a finite float when the text reads as one, else NULL: numeric filters
    # and orders of task listings (``tunehouse.store.sql.task_columns.numeric_value``).
    sa.Column("num_value", sa.Float(), nullable=True),
    sa.Index(None, "section", "name", "num_value"),
)

configurations = sa.Table(
    "configurations", metadata,
    _task_fk(primary_key=True),
    sa.Column("name", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    _user(),
)

scripts = sa.Table(
    "scripts", metadata,
    _task_fk(primary_key=True),
    sa.Column("repository", sa.Text(), nullable=False),
    sa.Column("branch", sa.Text(), nullable=False),
    sa.Column("commit", sa.String(64), nullable=False),
    sa.Column("diff", sa.Text(), nullable=False),
    sa.Column("untracked_files", Json, nullable=False),
    sa.Column("entry_point", sa.Text(), nullable=False),
    sa.Column("working_dir", sa.Text(), nullable=False),
    sa.Column("script_text", sa.Text(), nullable=False),
    sa.Column("argv", Json, nullable=False),
    _user(),
)

environments = sa.Table(
    "environments", metadata,
    _task_fk(primary_key=True),
    sa.Column("data", Json, nullable=False),
    _user(),
)

#: One row per (task, title, series): the per-task metric summary, and the key of scalars.
metrics = sa.Table(
    "metrics", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    _task_fk(nullable=False),
    sa.Column("title", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("series", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Column("last", ExactFloat, nullable=True),
    sa.Column("min", ExactFloat, nullable=True),
    sa.Column("max", ExactFloat, nullable=True),
    sa.Column("last_iteration", sa.BigInteger(), nullable=False),
    # True while every point came with an iteration >= the previous one: report order is
    # then iteration order, and downsampled reads fetch only the sampled ``seq`` values.
    sa.Column("in_order", sa.Boolean(), nullable=False),
    sa.UniqueConstraint("task_id", "title", "series"),
    sa.Index(None, "title", "series", "last", "id"),
    sa.Index(None, "title", "series", "min", "id"),
    sa.Index(None, "title", "series", "max", "id"),
)

#: Scalars, compact: (metric, seq) is the key; seq runs 0..count-1 in report order.
scalars = sa.Table(
    "scalars", metadata,
    # No foreign key: a per-row check would halve ingest speed on PostgreSQL; the store
    # deletes a metric's scalars together with the metric (``_delete_outputs``).
    sa.Column("metric_id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("iteration", sa.BigInteger(), nullable=False),
    sa.Column("value", ExactFloat, nullable=True),
    sa.Column("wall", sa.Float(), nullable=False),
    sqlite_with_rowid=False,
)

log_lines = sa.Table(
    "log_lines", metadata,
    _task_fk(primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("stream", sa.String(16), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("wall", sa.Float(), nullable=False),
    sqlite_with_rowid=False,
)

event_batches = sa.Table(
    "event_batches", metadata,
    sa.Column("batch_id", sa.String(64), primary_key=True),
    _task_fk(nullable=False, index=True),
    _created(),
)

artifacts = sa.Table(
    "artifacts", metadata,
    _task_fk(primary_key=True),
    sa.Column("name", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("content_type", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("metadata", Json, nullable=False),
    _user(),
    _created(),
)

models = sa.Table(
    "models", metadata,
    _id(),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("framework", sa.String(64), nullable=False),
    sa.Column("project_id", sa.String(ID_LENGTH),
              sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True),
    sa.Column("task_id", sa.String(ID_LENGTH),
              sa.ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True, index=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("format", sa.String(64), nullable=False),
    sa.Column("tags", Json, nullable=False),
    sa.Column("published", sa.Boolean(), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("metadata", Json, nullable=False),
    _user(),
    _created(),
    sa.UniqueConstraint("name", "version"),
)

#: ClearML's model records (:mod:`tunehouse.compat.clearml.models`): a ClearML model is
#: registered by URI before (or without) its weights, so it is not a tunehouse model
#: version; one is made when its URI names a file the ClearML file server holds.
clearml_models = sa.Table(
    "clearml_models", metadata,
    _id(),
    sa.Column("task_id", sa.String(ID_LENGTH),
              sa.ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True, index=True),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("data", Json, nullable=False),
    _user(),
    _created(),
    sa.Column("updated", UtcDateTime(), nullable=False),
)

model_stages = sa.Table(
    "model_stages", metadata,
    sa.Column("model_name", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("model_id", sa.String(ID_LENGTH),
              sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False, index=True),
    _user(),
    sa.Column("updated", UtcDateTime(), nullable=False),
)

queues = sa.Table(
    "queues", metadata,
    _id(),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False, unique=True),
    _user(),
    _created(),
)

queue_entries = sa.Table(
    "queue_entries", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("queue_id", sa.String(ID_LENGTH),
              sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=False),
    _task_fk(nullable=False, unique=True),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("enqueued", UtcDateTime(), nullable=False),
    _user(),
    sa.Index(None, "queue_id", "priority", "id"),
)

workers = sa.Table(
    "workers", metadata,
    sa.Column("name", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("host", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("queues", Json, nullable=False),
    sa.Column("gpus", Json, nullable=False),
    sa.Column("tasks", Json, nullable=False),
    sa.Column("slots", sa.Integer(), nullable=False),
    sa.Column("free_slots", sa.Integer(), nullable=False),
    sa.Column("stats", Json, nullable=False),
    sa.Column("lease_s", sa.Float(), nullable=False),
    _user(),
    sa.Column("registered", UtcDateTime(), nullable=False),
    sa.Column("last_heartbeat", UtcDateTime(), nullable=False, index=True),
)

users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("admin", sa.Boolean(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_by", sa.String(NAME_LENGTH), nullable=False),
    _created(),
    #: May act for other users (``X-Tunehouse-User``), as an admin may: an agent's account.
    sa.Column("agent", sa.Boolean(), nullable=False, server_default=sa.false()),
    #: Where the password is checked: ``local`` (``password_hash``) or ``ldap``.
    sa.Column("source", sa.String(16), nullable=False, server_default="local"),
)

#: A user's role on a project (``viewer`` < ``editor`` < ``owner``); sub-projects inherit
#: their parent's roles. Server admins need none.
project_roles = sa.Table(
    "project_roles", metadata,
    sa.Column("project_id", sa.String(ID_LENGTH),
              sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user", sa.String(NAME_LENGTH),
              sa.ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("granted_by", sa.String(NAME_LENGTH), nullable=False),
    _created(),
    sa.Index(None, "user"),
)

#: Web sessions, kept on the server so that they can be ended: ``id`` is the SHA-256 of
#: the token in the cookie (a stolen table holds no usable token).
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user", sa.String(NAME_LENGTH),
              sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True),
    _created(),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
    sa.Column("expires", UtcDateTime(), nullable=False),
    sa.Column("client", sa.String(255), nullable=False),
)

#: Failed sign-ins and key checks per ``user:<name>``, ``addr:<client address>`` or
#: ``key:<access key>``: growing delays, then a lockout until ``locked_until``.
auth_throttle = sa.Table(
    "auth_throttle", metadata,
    sa.Column("key", sa.String(NAME_LENGTH + 8), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("first_failure", UtcDateTime(), nullable=False),
    sa.Column("last_failure", UtcDateTime(), nullable=False),
    sa.Column("locked_until", UtcDateTime(), nullable=True),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("access_key", sa.String(64), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("user", sa.String(NAME_LENGTH),
              sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("revoked", sa.Boolean(), nullable=False),
    sa.Column("created_by", sa.String(NAME_LENGTH), nullable=False),
    _created(),
    sa.Column("last_used", UtcDateTime(), nullable=True),
    #: A key made for one attempt of one task (an agent's per-attempt key of the task's
    #: owner): it works only while that attempt runs (NULL: an ordinary key).
    sa.Column("task_id", sa.String(ID_LENGTH), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=True),
)

audit_events = sa.Table(
    "audit_events", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    _user(),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("details", Json, nullable=False),
    _created(),
    #: The authenticated user when it acted for ``user`` (an agent, an admin), else NULL.
    sa.Column("actor", sa.String(NAME_LENGTH), nullable=True),
    #: The client's address of the request that made the change (NULL: not over HTTP).
    sa.Column("client", sa.String(255), nullable=True),
    sa.Index(None, "target_type", "target_id", "id"),
    sa.Index(None, "user", "id"),
    sa.Index(None, "created"),
)

#: Settings a user keeps on the server (the web UI's dashboards: ``dashboard:<project id>``),
#: one JSON document per (user, key); written through ``Accounts.set_preference``.
user_preferences = sa.Table(
    "user_preferences", metadata,
    sa.Column("user", sa.String(NAME_LENGTH),
              sa.ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(NAME_LENGTH), primary_key=True),
    sa.Column("value", Json, nullable=False),
    sa.Column("updated", UtcDateTime(), nullable=False),
)
