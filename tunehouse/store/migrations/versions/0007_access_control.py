"""Access control: roles per project, agent accounts, LDAP users, server-side sessions,
sign-in throttling, and who acted from where in the audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column('users', sa.Column('agent', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('users', sa.Column('source', sa.String(length=16), nullable=False,
                                     server_default='local'))
    op.create_table(
        'project_roles',
        sa.Column('project_id', sa.String(length=32), nullable=False),
        sa.Column('user', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('granted_by', sa.String(length=255), nullable=False),
        sa.Column('created', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_project_roles_project_id_projects'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user'], ['users.name'],
                                name=op.f('fk_project_roles_user_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'user', name=op.f('pk_project_roles')))
    op.create_index(op.f('ix_project_roles_user'), 'project_roles', ['user'])
    op.create_table(
        'sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user', sa.String(length=255), nullable=False),
        sa.Column('created', WHEN, nullable=False),
        sa.Column('last_seen', WHEN, nullable=False),
        sa.Column('expires', WHEN, nullable=False),
        sa.Column('client', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['user'], ['users.name'],
                                name=op.f('fk_sessions_user_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')))
    op.create_index(op.f('ix_sessions_user'), 'sessions', ['user'])
    op.create_table(
        'auth_throttle',
        sa.Column('key', sa.String(length=263), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('first_failure', WHEN, nullable=False),
        sa.Column('last_failure', WHEN, nullable=False),
        sa.Column('locked_until', WHEN, nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_auth_throttle')))
    op.add_column('audit_events', sa.Column('actor', sa.String(length=255), nullable=True))
    op.add_column('audit_events', sa.Column('client', sa.String(length=255), nullable=True))
    op.create_index(op.f('ix_audit_events_user_id'), 'audit_events', ['user', 'id'])
    op.create_index(op.f('ix_audit_events_created'), 'audit_events', ['created'])


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_events_created'), table_name='audit_events')
    op.drop_index(op.f('ix_audit_events_user_id'), table_name='audit_events')
    with op.batch_alter_table('audit_events') as batch:
        batch.drop_column('client')
        batch.drop_column('actor')
    op.drop_table('auth_throttle')
    op.drop_index(op.f('ix_sessions_user'), table_name='sessions')
    op.drop_table('sessions')
    op.drop_index(op.f('ix_project_roles_user'), table_name='project_roles')
    op.drop_table('project_roles')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('source')
        batch.drop_column('agent')
