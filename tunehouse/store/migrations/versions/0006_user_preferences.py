"""Preferences users keep on the server

``user_preferences`` holds one JSON document per (user, key): the web UI keeps each user's
pinned charts of a project there (``dashboard:<project id>``). A user's rows go with it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('user_preferences',
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', JSON, nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user'], ['users.name'],
                            name=op.f('fk_user_preferences_user_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user', 'key', name=op.f('pk_user_preferences'))
    )


def downgrade() -> None:
    op.drop_table('user_preferences')
