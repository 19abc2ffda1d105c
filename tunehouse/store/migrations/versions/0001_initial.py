"""Initial schema of the tunehouse store

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.String(length=255), nullable=False),
    sa.Column('details', JSON, nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index(op.f('ix_audit_events_target_type_target_id_id'), 'audit_events', ['target_type', 'target_id', 'id'])

    op.create_table('projects',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=1024), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('queues',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queues')),
    sa.UniqueConstraint('name', name=op.f('uq_queues_name'))
    )
    op.create_table('users',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('admin', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_users'))
    )
    op.create_table('workers',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('queues', JSON, nullable=False),
    sa.Column('gpus', JSON, nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('stats', JSON, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('registered', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_heartbeat', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_workers'))
    )
    op.create_index(op.f('ix_workers_last_heartbeat'), 'workers', ['last_heartbeat'])

    op.create_table('api_keys',
    sa.Column('access_key', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user'], ['users.name'], name=op.f('fk_api_keys_user_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('access_key', name=op.f('pk_api_keys'))
    )
    op.create_index(op.f('ix_api_keys_user'), 'api_keys', ['user'])

    op.create_table('tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('tags', JSON, nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queue', sa.String(length=255), nullable=True),
    sa.Column('queue_priority', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=255), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('max_retries', sa.Integer(), nullable=False),
    sa.Column('last_iteration', sa.BigInteger(), nullable=True),
    sa.Column('abort_requested', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['tasks.id'], name=op.f('fk_tasks_parent_id_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_tasks_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    op.create_index(op.f('ix_tasks_created'), 'tasks', ['created'])
    op.create_index(op.f('ix_tasks_parent_id'), 'tasks', ['parent_id'])
    op.create_index(op.f('ix_tasks_project_id_created'), 'tasks', ['project_id', 'created'])
    op.create_index(op.f('ix_tasks_status'), 'tasks', ['status'])

    op.create_table('artifacts',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_artifacts_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'name', name=op.f('pk_artifacts'))
    )
    op.create_table('configurations',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_configurations_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'name', name=op.f('pk_configurations'))
    )
    op.create_table('environments',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('data', JSON, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_environments_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_environments'))
    )
    op.create_table('event_batches',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_event_batches_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_event_batches'))
    )
    op.create_index(op.f('ix_event_batches_task_id'), 'event_batches', ['task_id'])

    op.create_table('log_lines',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('stream', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('wall', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_log_lines_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'seq', name=op.f('pk_log_lines')),
    sqlite_with_rowid=False
    )
    op.create_table('metrics',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('series', sa.String(length=255), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('last', sa.Float(), nullable=True),
    sa.Column('min', sa.Float(), nullable=True),
    sa.Column('max', sa.Float(), nullable=True),
    sa.Column('last_iteration', sa.BigInteger(), nullable=False),
    sa.Column('in_order', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_metrics_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metrics')),
    sa.UniqueConstraint('task_id', 'title', 'series', name=op.f('uq_metrics_task_id_title_series'))
    )
    op.create_index(op.f('ix_metrics_title_series_last_id'), 'metrics', ['title', 'series', 'last', 'id'])
    op.create_index(op.f('ix_metrics_title_series_max_id'), 'metrics', ['title', 'series', 'max', 'id'])
    op.create_index(op.f('ix_metrics_title_series_min_id'), 'metrics', ['title', 'series', 'min', 'id'])

    op.create_table('models',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('framework', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=True),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=64), nullable=False),
    sa.Column('tags', JSON, nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_models_project_id_projects'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_models_task_id_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_models_name_version'))
    )
    op.create_index(op.f('ix_models_task_id'), 'models', ['task_id'])

    op.create_table('parameters',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('section', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_parameters_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'section', 'name', name=op.f('pk_parameters'))
    )
    op.create_table('queue_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('enqueued', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_queue_entries_queue_id_queues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_queue_entries_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_entries')),
    sa.UniqueConstraint('task_id', name=op.f('uq_queue_entries_task_id'))
    )
    op.create_index(op.f('ix_queue_entries_queue_id_priority_id'), 'queue_entries', ['queue_id', 'priority', 'id'])

    op.create_table('scripts',
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('repository', sa.Text(), nullable=False),
    sa.Column('branch', sa.Text(), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=False),
    sa.Column('diff', sa.Text(), nullable=False),
    sa.Column('untracked_files', JSON, nullable=False),
    sa.Column('entry_point', sa.Text(), nullable=False),
    sa.Column('working_dir', sa.Text(), nullable=False),
    sa.Column('script_text', sa.Text(), nullable=False),
    sa.Column('argv', JSON, nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_scripts_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_scripts'))
    )
    op.create_table('model_stages',
    sa.Column('model_name', sa.String(length=255), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('model_id', sa.String(length=32), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_model_stages_model_id_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_name', 'stage', name=op.f('pk_model_stages'))
    )
    op.create_index(op.f('ix_model_stages_model_id'), 'model_stages', ['model_id'])

    op.create_table('scalars',
    sa.Column('metric_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('iteration', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('wall', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('metric_id', 'seq', name=op.f('pk_scalars')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('scalars')
    op.drop_table('model_stages')
    op.drop_table('scripts')
    op.drop_table('queue_entries')
    op.drop_table('parameters')
    op.drop_table('models')
    op.drop_table('metrics')
    op.drop_table('log_lines')
    op.drop_table('event_batches')
    op.drop_table('environments')
    op.drop_table('configurations')
    op.drop_table('artifacts')
    op.drop_table('tasks')
    op.drop_table('api_keys')
    op.drop_table('workers')
    op.drop_table('users')
    op.drop_table('queues')
    op.drop_table('projects')
    op.drop_table('audit_events')
