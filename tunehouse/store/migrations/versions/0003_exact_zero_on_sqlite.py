"""Scalar values keep the sign of zero on SQLite

SQLite stores a REAL without fraction as an integer, so -0.0 was read back as 0.0. The
scalar value and the metric summaries move to columns without type affinity (declared
BLOB), which keep a float as given. PostgreSQL's double precision always kept it: nothing
changes there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

VALUE_TYPE = {"upgrade": "BLOB", "downgrade": "FLOAT"}


def _rebuild(value_type: str) -> None:
    op.execute(f"""CREATE TABLE scalars_new (
        metric_id INTEGER NOT NULL, seq INTEGER NOT NULL, iteration BIGINT NOT NULL,
        value {value_type}, wall FLOAT NOT NULL,
        CONSTRAINT pk_scalars PRIMARY KEY (metric_id, seq)) WITHOUT ROWID""")
    op.execute("INSERT INTO scalars_new SELECT metric_id, seq, iteration, value, wall "
               "FROM scalars")
    op.execute("DROP TABLE scalars")
    op.execute("ALTER TABLE scalars_new RENAME TO scalars")
    op.execute(f"""CREATE TABLE metrics_new (
        id INTEGER NOT NULL, task_id VARCHAR(32) NOT NULL, title VARCHAR(255) NOT NULL,
        series VARCHAR(255) NOT NULL, count BIGINT NOT NULL, last {value_type},
        min {value_type}, max {value_type}, last_iteration BIGINT NOT NULL,
        in_order BOOLEAN NOT NULL,
        CONSTRAINT pk_metrics PRIMARY KEY (id),
        CONSTRAINT fk_metrics_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id)
            ON DELETE CASCADE,
        CONSTRAINT uq_metrics_task_id_title_series UNIQUE (task_id, title, series))""")
    op.execute("INSERT INTO metrics_new SELECT id, task_id, title, series, count, last, min, "
               "max, last_iteration, in_order FROM metrics")
    op.execute("DROP TABLE metrics")
    op.execute("ALTER TABLE metrics_new RENAME TO metrics")
    for field in ("last", "min", "max"):
        op.execute(f"CREATE INDEX ix_metrics_title_series_{field}_id ON metrics "
                   f"(title, series, {field}, id)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(VALUE_TYPE["upgrade"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(VALUE_TYPE["downgrade"])
