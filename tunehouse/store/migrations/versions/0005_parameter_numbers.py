"""Parameters keep their value as a number too, for task tables

``parameters.num_value`` is the value as a finite float when its text reads as one (else
NULL), indexed with (section, name): task listings filter and order by parameters
numerically (``param:General/lr >= 0.001``) through it. Existing rows are filled in
batches read in primary-key order, the same way on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 5000


def _number(text: str) -> float | None:
    """What the store writes (``task_columns.numeric_value``), kept here as it was."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _backfill() -> None:
    params = sa.table('parameters', sa.column('task_id', sa.String),
                      sa.column('section', sa.String), sa.column('name', sa.String),
                      sa.column('value', sa.Text), sa.column('num_value', sa.Float))
    key = sa.tuple_(params.c.task_id, params.c.section, params.c.name)
    update = (sa.update(params)
              .where(params.c.task_id == sa.bindparam('t_id'),
                     params.c.section == sa.bindparam('t_section'),
                     params.c.name == sa.bindparam('t_name'))
              .values(num_value=sa.bindparam('t_num')))
    conn = op.get_bind()
    after: tuple[str, str, str] | None = None
    while True:
        query = sa.select(params.c.task_id, params.c.section, params.c.name, params.c.value)
        if after is not None:
            query = query.where(key > sa.tuple_(*after))
        rows = conn.execute(query.order_by(params.c.task_id, params.c.section, params.c.name)
                            .limit(BATCH)).all()
        if not rows:
            return
        numbers = [{'t_id': r.task_id, 't_section': r.section, 't_name': r.name,
                    't_num': number} for r in rows if (number := _number(r.value)) is not None]
        if numbers:
            conn.execute(update, numbers)
        last = rows[-1]
        after = (last.task_id, last.section, last.name)


def upgrade() -> None:
    with op.batch_alter_table('parameters') as batch:
        batch.add_column(sa.Column('num_value', sa.Float(), nullable=True))
    _backfill()
    with op.batch_alter_table('parameters') as batch:
        batch.create_index(batch.f('ix_parameters_section_name_num_value'),
                           ['section', 'name', 'num_value'])


def downgrade() -> None:
    with op.batch_alter_table('parameters') as batch:
        batch.drop_index(batch.f('ix_parameters_section_name_num_value'))
        batch.drop_column('num_value')
