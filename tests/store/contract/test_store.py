"""Contract of the store as a whole: unknown ids in every area, the acting user.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import pytest

from tests.store.contract.helpers import S, batch_id, unique
from tunehouse.errors import Conflict, NotFound
from tunehouse.store.accounts import Accounts
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Configuration,
    Environment,
    EventBatch,
    Parameter,
    Script,
    StatusChange,
    TaskCreate,
    TaskUpdate,
)


def test_unknown_ids_are_not_found(store: Store) -> None:
    missing = uuid.uuid4().hex
    calls = [
        lambda: store.tasks.get_task(missing),
        lambda: store.tasks.update_task(missing, TaskUpdate(comment="x")),
        lambda: store.tasks.change_status(missing, StatusChange(status=S.in_progress)),
        lambda: store.tasks.request_abort(missing),
        lambda: store.tasks.clone_task(missing),
        lambda: store.tasks.delete_task(missing),
        lambda: store.tasks.set_parameters(missing, [Parameter(name="x")]),
        lambda: store.tasks.get_parameters(missing),
        lambda: store.tasks.set_configuration(missing, Configuration(name="c", text="t")),
        lambda: store.tasks.get_configurations(missing),
        lambda: store.tasks.set_script(missing, Script()),
        lambda: store.tasks.get_script(missing),
        lambda: store.tasks.set_environment(missing, Environment()),
        lambda: store.tasks.get_environment(missing),
        lambda: store.events.add_events(EventBatch(batch_id=batch_id(), task_id=missing,
                                            scalars=[("a", "b", 0, 1.0, 0.0)])),
        lambda: store.events.get_metric_summaries(missing),
        lambda: store.events.get_scalars(missing),
        lambda: store.events.get_logs(missing),
        lambda: store.artifacts.list_artifacts(missing),
        lambda: store.models.get_model(missing),
        lambda: store.models.find_model(unique("model")),
        lambda: store.queues.enqueue(missing, unique("queue")),
        lambda: store.queues.dequeue(missing),
        lambda: store.queues.list_queue_entries(unique("queue")),
        lambda: store.tasks.create_task(TaskCreate(project=unique("p"), name="n", parent_id=missing)),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()



def test_records_carry_the_acting_user(store: Store, store_kind: str,
                                       accounts: Accounts) -> None:
    if store_kind == "http":  # the server acts only for users it has
        with contextlib.suppress(Conflict):
            accounts.users.create_user("bob", "bob-password-123")
    bob = store.with_user("bob")
    task = bob.tasks.create_task(TaskCreate(project=unique("proj"), name="t"))
    assert task.user == "bob" and bob.user == "bob"
    assert store.tasks.get_task(task.id).user == "bob"
    assert datetime.now(UTC) >= task.created
