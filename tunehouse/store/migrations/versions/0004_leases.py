"""Leases of claimed tasks, agents with several slots, and the default queue

A claimed task holds a lease (``tasks.lease_expires``; ``worker`` and ``attempt`` are the
rest) that its agent renews. Workers list the tasks they run, their slots and the lease
they renew with, instead of one task id. The ``default`` queue always exists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('lease_expires', sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f('ix_tasks_status_lease_expires'), ['status', 'lease_expires'])
    # workers re-register with their next heartbeat
    op.execute("DELETE FROM workers")
    with op.batch_alter_table('workers') as batch:
        batch.drop_column('task_id')
        batch.add_column(sa.Column('tasks', JSON, nullable=False))
        batch.add_column(sa.Column('slots', sa.Integer(), nullable=False))
        batch.add_column(sa.Column('free_slots', sa.Integer(), nullable=False))
        batch.add_column(sa.Column('lease_s', sa.Float(), nullable=False))
    queues = sa.table('queues', sa.column('id', sa.String), sa.column('name', sa.String),
                      sa.column('user', sa.String),
                      sa.column('created', sa.DateTime(timezone=True)))
    exists = op.get_bind().execute(
        sa.select(queues.c.id).where(queues.c.name == 'default')).first()
    if exists is None:
        op.execute(queues.insert().values(id=uuid.uuid4().hex, name='default', user='tunehouse',
                                          created=datetime.now(UTC)))


def downgrade() -> None:
    op.execute("DELETE FROM workers")
    with op.batch_alter_table('workers') as batch:
        batch.drop_column('lease_s')
        batch.drop_column('free_slots')
        batch.drop_column('slots')
        batch.drop_column('tasks')
        batch.add_column(sa.Column('task_id', sa.String(32), nullable=True))
    with op.batch_alter_table('tasks') as batch:
        batch.drop_index(batch.f('ix_tasks_status_lease_expires'))
        batch.drop_column('lease_expires')
