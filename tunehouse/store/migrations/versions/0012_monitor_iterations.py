"""A task's last iteration leaves out its resource monitor's samples

The resource monitor (titles starting with ``:monitor:``) reports the seconds since the
task started as its iteration; until now that sample counter advanced the task's
``last_iteration`` (a 6-epoch trial showed 40). Ingest now counts only training series;
this recomputes ``last_iteration`` of the tasks that have monitor series from their
other metrics' summaries (null when they have none). No schema change.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE tasks SET last_iteration = ("
        " SELECT MAX(m.last_iteration) FROM metrics m"
        " WHERE m.task_id = tasks.id AND m.title NOT LIKE ':monitor:%')"
        " WHERE EXISTS (SELECT 1 FROM metrics m"
        " WHERE m.task_id = tasks.id AND m.title LIKE ':monitor:%')")


def downgrade() -> None:
    """Nothing to undo: the recomputed values are the ones ingest keeps from now on."""
