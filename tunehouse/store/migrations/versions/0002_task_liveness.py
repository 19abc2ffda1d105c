"""Task liveness: when a task's process last showed a sign of life

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f('ix_tasks_status_last_seen'), ['status', 'last_seen'])
    # running tasks start from their last change, so none is reaped at once after upgrading
    op.execute("UPDATE tasks SET last_seen = updated WHERE status = 'in_progress'")


def downgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.drop_index(batch.f('ix_tasks_status_last_seen'))
        batch.drop_column('last_seen')
