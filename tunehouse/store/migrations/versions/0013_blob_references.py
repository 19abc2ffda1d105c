"""Index the blobs artifacts and models refer to

Which artifacts and models refer to a blob is asked when a task is deleted (its blobs go
once nothing else refers to them), by ``tunehouse artifacts gc`` and by the permission
check of a blob download: an index on ``sha256`` of both tables keeps each of those a
lookup instead of a scan.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_artifacts_sha256'), 'artifacts', ['sha256'])
    op.create_index(op.f('ix_models_sha256'), 'models', ['sha256'])


def downgrade() -> None:
    op.drop_index(op.f('ix_models_sha256'), table_name='models')
    op.drop_index(op.f('ix_artifacts_sha256'), table_name='artifacts')
