"""ClearML's model records

The ClearML API (``tunehouse.compat.clearml``) registers a model by URI before (or
without) its weights, and finds it by id alone, so its record is a table of its own:
id, task (kept null when the task is deleted), name, the rest of ClearML's fields as
JSON, the creating user and times. A tunehouse model version is made once the URI names
a file the ClearML file server holds.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('clearml_models',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('data', JSON, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'],
                            name=op.f('fk_clearml_models_task_id_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clearml_models'))
    )
    op.create_index(op.f('ix_clearml_models_task_id'), 'clearml_models', ['task_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_clearml_models_task_id'), table_name='clearml_models')
    op.drop_table('clearml_models')
