"""Names (projects, tasks, models, artifacts, queues, workers) hold no control characters:
NUL, which PostgreSQL cannot store and SQLite would keep, newlines, escapes. Refused by
the records (a pydantic error naming the field) and by every backend of the store (an
``InvalidInput`` naming the kind of name); tab is allowed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from tunehouse.errors import InvalidInput
from tunehouse.store.base import Store
from tunehouse.store.records import (
    ArtifactCreate,
    ModelCreate,
    TaskCreate,
    TaskUpdate,
    WorkerHeartbeat,
)

BAD = ["a\x00b", "line\nbreak", "\x1b[31mred", "del\x7f", "\r"]
SHA = "0" * 64

RECORDS: list[tuple[str, Callable[[str], Any]]] = [
    ("name", lambda bad: TaskCreate(project="p", name=bad)),
    ("project", lambda bad: TaskCreate(project=bad, name="n")),
    ("name", lambda bad: TaskUpdate(name=bad)),
    ("name", lambda bad: ArtifactCreate(name=bad, sha256=SHA, size=0)),
    ("name", lambda bad: ModelCreate(name=bad, sha256=SHA, size=0)),
    ("name", lambda bad: WorkerHeartbeat(name=bad)),
]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(("field", "make"), RECORDS)
def test_records_refuse_names_with_control_characters(
        field: str, make: Callable[[str], Any], bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make(bad)
    [error] = refused.value.errors()
    assert error["loc"] == (field,)
    assert "control characters" in error["msg"]


def test_a_tab_in_a_name_is_allowed() -> None:
    assert TaskCreate(project="p\tq", name="a\tb").name == "a\tb"


@pytest.mark.parametrize("bad", ["a\x00b", "line\nbreak"])
def test_every_backend_refuses_names_with_control_characters(store: Store, bad: str) -> None:
    unique = uuid.uuid4().hex[:8]
    task = store.tasks.create_task(TaskCreate(project=f"names-{unique}", name="ok"))
    # (the kind of name the SQL store names, the field of the body the server names)
    refusals: list[tuple[str, str, Callable[[], Any]]] = [
        ("project", "body.name",
         lambda: store.tasks.get_or_create_project(f"names-{unique}/{bad}")),
        ("task", "body.name", lambda: store.tasks.clone_task(task.id, name=bad)),
        ("project", "body.project", lambda: store.tasks.clone_task(task.id, project=bad)),
        ("queue", "body.queue", lambda: store.queues.enqueue(task.id, f"q-{unique}{bad}")),
        ("worker", "body.worker", lambda: store.queues.claim_task([f"q-{unique}"], f"w{bad}")),
    ]
    for kind, field, refused in refusals:
        with pytest.raises(InvalidInput) as caught:
            refused()
        message = str(caught.value)
        assert f"invalid {kind} name" in message or f"{field}: " in message, message
        assert "control characters" in message or "letters, digits" in message, message
    assert [p.name for p in store.tasks.list_projects() if unique in p.name] == [f"names-{unique}"]
