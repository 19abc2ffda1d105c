"""Naming a parent changes the parent: through the real server, a new task's or a
clone's ``parent_id`` needs ``editor`` on the parent's project. A viewer of someone
else's search cannot hang a task of their own project under its controller (where it
used to count as a trial), and is told why; an editor there may."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.helpers.server import ServerProcess
from tests.hpo.helpers import Seeded, seed_search
from tunehouse.client.http import HttpStore
from tunehouse.hpo.report import load_report
from tunehouse.store.records import TaskQuery

API = "/api/v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Person:
    """A user of the shared server with an API key, and a client on it."""

    name: str
    key: tuple[str, str]
    api: httpx.Client

    def store(self, server: ServerProcess) -> HttpStore:
        return HttpStore(server.url, *self.key)


@pytest.fixture
def people(shared_server: ServerProcess) -> Iterator[dict[str, Person]]:
    """Two new users of the shared server (default role: viewer everywhere)."""
    found: dict[str, Person] = {}
    with httpx.Client(base_url=shared_server.url + API, timeout=60,
                      auth=(shared_server.access_key, shared_server.secret_key)) as admin:
        for persona in ("owner", "viewer"):
            name = unique(persona)
            made = admin.post("/users", json={"name": name, "password": uuid.uuid4().hex})
            assert made.status_code == 201, made.text
            key = admin.post("/keys", json={"user": name}).json()
            found[persona] = Person(name, (key["access_key"], key["secret_key"]), httpx.Client(
                base_url=shared_server.url + API, timeout=60,
                auth=(key["access_key"], key["secret_key"])))
    yield found
    for person in found.values():
        person.api.close()


def test_a_viewer_cannot_make_a_child_of_someone_elses_search(
        shared_server: ServerProcess, people: dict[str, Person]) -> None:
    owner, viewer = people["owner"], people["viewer"]
    project = unique("team")
    owner_store = owner.store(shared_server)
    try:
        search = seed_search(owner_store, "Args/x: uniform(0.0, 1.0)",
                             [Seeded({"Args/x": "0.2"}, 0.4)], project=project)
        mine = unique("mine")
        own = viewer.api.post("/tasks", json={"project": mine, "name": "mine"})
        assert own.status_code == 201, own.text
        refusal = (f"{viewer.name} may not make a child of task {search} in project "
                   f"{project}: needs editor, has viewer")

        planted = viewer.api.post("/tasks", json={"project": mine, "name": "trial 0",
                                                  "parent_id": search})
        assert planted.status_code == 403, planted.text
        assert planted.json()["error"]["message"] == refusal
        cloned = viewer.api.post(f"/tasks/{own.json()['id']}/clone",
                                 json={"parent_id": search})
        assert cloned.status_code == 403, cloned.text
        assert cloned.json()["error"]["message"] == refusal
        assert owner_store.tasks.list_tasks(TaskQuery(parent_id=search)).total == 1

        granted = owner.api.put(f"/access/{project}/{viewer.name}", json={"role": "editor"})
        assert granted.status_code == 200, granted.text
        made = viewer.api.post("/tasks", json={"project": mine, "name": "child",
                                               "parent_id": search})
        assert made.status_code == 201, made.text
        # a child the search did not make is still none of its trials
        assert owner_store.tasks.list_tasks(TaskQuery(parent_id=search)).total == 2
        assert load_report(owner_store, search).budget.made == 1
    finally:
        owner_store.close()
