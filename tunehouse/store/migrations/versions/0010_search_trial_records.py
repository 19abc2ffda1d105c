"""Every search records the trials it made

A search's trials used to be whatever named its controller as parent and carried a trial
spec of it, so a task planted under someone else's search from a project of one's own
counted (and ranked) as one of its trials. The controller now records the trials it
makes in its configuration ``hpo.trials`` (``tunehouse.hpo.trials.TrialRecord``: trial
number -> task), and only those count. This writes that record for the searches made
before: the children the controller's rebuild took as its trials (a trial spec naming
it, the first child of each number), kept to the controller's own project, where only
its editors could make tasks. No table changes.

The record's format is written out here as it was at this revision, not imported.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CONTROLLER_TYPE = 'optimizer'
SEARCH_CONFIG = 'hpo'
SPEC_CONFIG = 'hpo.trial'
RECORD_CONFIG = 'hpo.trials'
RECORD_DESCRIPTION = 'the trials this search made: number -> task (tunehouse hpo)'

tasks = sa.table('tasks', sa.column('id', sa.String), sa.column('project_id', sa.String),
                 sa.column('type', sa.String), sa.column('parent_id', sa.String),
                 sa.column('user', sa.String), sa.column('created', sa.DateTime))
configurations = sa.table('configurations', sa.column('task_id', sa.String),
                          sa.column('name', sa.String), sa.column('text', sa.Text),
                          sa.column('description', sa.Text), sa.column('user', sa.String))


def _number(text: str, controller_id: str) -> int | None:
    """The trial number of a spec of ``controller_id`` (None: not one)."""
    try:
        data: Any = json.loads(text)
        if str(data['controller']) != controller_id:
            return None
        return int(data['number'])
    except (ValueError, KeyError, TypeError):
        return None


def upgrade() -> None:
    conn = op.get_bind()
    has_config = sa.select(configurations.c.task_id).where(
        configurations.c.task_id == tasks.c.id)
    searches = conn.execute(
        sa.select(tasks.c.id, tasks.c.project_id, tasks.c.user)
        .where(tasks.c.type == CONTROLLER_TYPE,
               has_config.where(configurations.c.name == SEARCH_CONFIG).exists(),
               ~has_config.where(configurations.c.name == RECORD_CONFIG).exists())
        .order_by(tasks.c.id)).all()
    for search in searches:
        children = conn.execute(
            sa.select(tasks.c.id, configurations.c.text)
            .join(configurations, configurations.c.task_id == tasks.c.id)
            .where(tasks.c.parent_id == search.id, tasks.c.project_id == search.project_id,
                   configurations.c.name == SPEC_CONFIG)
            .order_by(tasks.c.created, tasks.c.id)).all()
        trials: dict[int, str] = {}
        for child in children:
            number = _number(child.text, search.id)
            if number is not None and number not in trials:
                trials[number] = child.id
        text = json.dumps({'controller': search.id,
                           'trials': {str(n): t for n, t in sorted(trials.items())}},
                          indent=1)
        conn.execute(sa.insert(configurations).values(
            task_id=search.id, name=RECORD_CONFIG, text=text,
            description=RECORD_DESCRIPTION, user=search.user))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.delete(configurations).where(configurations.c.name == RECORD_CONFIG))
