"""Who runs an attempt, and keys made for one attempt

``tasks.runner`` names the user that claimed the task's current attempt (an agent
account), so the server lets an agent account act only for the owners of the tasks it
runs. ``api_keys.task_id``/``attempt`` bind a key an agent makes for a task's owner to
that attempt: the key stops working once the attempt is over.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('runner', sa.String(length=255), nullable=True))
    op.add_column('api_keys', sa.Column('task_id', sa.String(length=32), nullable=True))
    op.add_column('api_keys', sa.Column('attempt', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('attempt')
        batch.drop_column('task_id')
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('runner')
