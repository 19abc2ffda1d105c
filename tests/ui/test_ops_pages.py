"""The queues & workers page, the model registry page, project dashboards and the
per-user preferences they are kept in: HTTP requests against the session's shared
server, signed in through the login form like a browser (session cookie + CSRF header).

Every test names its projects, queues, workers, models and users uniquely (the server is
shared); the preferences area itself is in the contract suite
(``tests/store/contract/test_preferences.py``: SQLite, PostgreSQL and HTTP).
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import ServerProcess, running_server
from tests.helpers.web import csrf_header, sign_in
from tunehouse.errors import InvalidInput
from tunehouse.server.ui.views.models import rollback_target
from tunehouse.store.base import Store
from tunehouse.store.preferences import (
    DASHBOARD_MAX_PINS,
    PREFERENCE_MAX_BYTES,
    check_preference,
)
from tunehouse.store.records import (
    EventBatch,
    ModelCreate,
    ScalarEvent,
    StatusChange,
    TaskCreate,
    TaskStatus,
    WorkerHeartbeat,
)

API = "/api/v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def browser(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """The shared server's admin, signed in."""
    client = sign_in(shared_server)
    yield client
    client.close()


csrf = csrf_header


def page(client: httpx.Client, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def section(html: str, start: str, end: str = "</section>") -> str:
    """The part of ``html`` from ``start`` up to the next ``end``."""
    begin = html.index(start)
    return html[begin:html.index(end, begin)]


def new_user(store: Store, shared_server: ServerProcess) -> tuple[str, str]:
    """A new non-admin user made through the admin API (``POST /users``)."""
    name, password = unique("user"), "pw-" + uuid.uuid4().hex
    with httpx.Client(base_url=shared_server.url + API, timeout=30,
                      auth=(shared_server.access_key, shared_server.secret_key)) as admin:
        answer = admin.post("/users", json={"name": name, "password": password})
    assert answer.status_code == 201, answer.text
    return name, password


# ---------------------------------------------------------------- queues & workers
def queued_ids(html: str, queue: str) -> list[str]:
    part = section(html, f'<section class="queue" data-queue="{queue}">')
    return re.findall(r'<tr data-id="([0-9a-f]+)">', part)


def test_queues_page_lists_waiting_tasks_in_claim_order_and_the_workers(
        store: Store, browser: httpx.Client) -> None:
    project, queue, busy = unique("ops"), unique("queue"), unique("busy")
    ids = {name: store.tasks.create_task(TaskCreate(project=project, name=name)).id
           for name in ("first", "urgent", "last", "running")}
    store.queues.enqueue(ids["first"], queue)
    store.queues.enqueue(ids["urgent"], queue, priority=5)
    store.queues.enqueue(ids["last"], queue)
    store.queues.enqueue(ids["running"], busy)
    claimed = store.queues.claim_task([busy], worker=(worker := unique("worker")),
                                      lease_s=600)
    assert claimed is not None and claimed.id == ids["running"]
    store.queues.heartbeat(WorkerHeartbeat(
        name=worker, host="gpu-box-7", queues=[queue, busy], gpus=["0"],
        tasks={claimed.id: claimed.attempt}, slots=2, free_slots=1, lease_s=600,
        stats={"cpu_percent": 37.0, "memory_used_percent": 61.0, "memory_used_gb": 19.5,
               "memory_total_gb": 32.0,
               "gpus": [{"index": 0, "uuid": "GPU-1234", "name": "NVIDIA A100",
                         "utilization_percent": 88.0, "memory_used_mb": 30000.0,
                         "memory_total_mb": 40960.0}]}))
    odd = unique("odd-worker")  # stats are whatever an agent sent: nothing may break
    store.queues.heartbeat(WorkerHeartbeat(
        name=odd, host="h", lease_s=600,
        stats={"cpu_percent": "lots", "memory_used_gb": float("inf"), "gpus": ["x", {}]}))

    html = page(browser, "/queues")
    assert queued_ids(html, queue) == [ids["urgent"], ids["first"], ids["last"]]
    part = section(html, f'<section class="queue" data-queue="{queue}">')
    assert f'<a href="/tasks/{ids["urgent"]}">urgent</a>' in part
    assert "3 waiting" in part
    row = section(html, f'<tr data-worker="{worker}">', "</tr>")
    assert "gpu-box-7" in row and "1 / 2" in row
    assert f'<a href="/tasks/{ids["running"]}">running</a>' in row
    assert "37 %" in row and "61 %" in row and "19.5 / 32.0 GB" in row
    assert "GPU 0 · NVIDIA A100" in row and "88 %" in row and "30000 / 40960 MiB" in row
    assert f'<tr data-worker="{odd}">' in html
    assert re.search(r'class="heartbeat">\d+ s ago<', row) or "just now" in row


def test_moves_and_removals_through_the_api_show_on_the_page(
        store: Store, browser: httpx.Client) -> None:
    project, queue = unique("ops"), unique("queue")
    a, b, c = (store.tasks.create_task(TaskCreate(project=project, name=n)).id
               for n in ("a", "b", "c"))
    for task_id in (a, b, c):
        store.queues.enqueue(task_id, queue)
    assert queued_ids(page(browser, "/queues"), queue) == [a, b, c]

    refused = browser.post(f"{API}/tasks/{c}/queue-position", json={"position": "front"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    moved = browser.post(f"{API}/tasks/{c}/queue-position", json={"position": "front"},
                         headers=csrf(browser))
    assert moved.status_code == 200, moved.text
    assert queued_ids(page(browser, "/queues"), queue) == [c, a, b]
    moved = browser.post(f"{API}/tasks/{c}/queue-position", json={"position": "back"},
                         headers=csrf(browser))
    assert moved.status_code == 200, moved.text
    assert queued_ids(page(browser, "/queues"), queue) == [a, b, c]
    removed = browser.post(f"{API}/tasks/{a}/dequeue", headers=csrf(browser))
    assert removed.status_code == 200 and removed.json()["status"] == "created"
    html = page(browser, "/queues")
    assert queued_ids(html, queue) == [b, c]
    part = section(html, f'<section class="queue" data-queue="{queue}">')
    assert 'data-action="front" data-id="' + b in part
    assert re.search(rf'data-action="front" data-id="{b}"[^>]*disabled', part)
    assert "/static/ui/queues.js" in html


def test_queued_tasks_one_may_not_read_are_shown_as_unseen(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text('{"default_project_role": "none"}')
    with running_server(home) as server, closing(server.store()) as admin:
        queue, hidden, shared = unique("queue"), unique("hidden"), unique("shared")
        secret = admin.tasks.create_task(TaskCreate(project=hidden, name="secret-plan"))
        mine = admin.tasks.create_task(TaskCreate(project=shared, name="visible-run"))
        admin.queues.enqueue(secret.id, queue, priority=5)
        admin.queues.enqueue(mine.id, queue)
        bob, password = new_user(admin, server)
        with httpx.Client(base_url=server.url + API, timeout=30,
                          auth=(server.access_key, server.secret_key)) as api:
            granted = api.put(f"/access/{shared}/{bob}", json={"role": "viewer"})
            assert granted.status_code == 200, granted.text
        with closing(sign_in(server, bob, password)) as client:
            html = page(client, "/queues")
    part = section(html, f'<section class="queue" data-queue="{queue}">')
    assert queued_ids(html, queue) == [mine.id]
    rows = re.findall(r"<tr[ >].*?</tr>", part, re.S)[1:]  # the header row first
    assert len(rows) == 2 and "a task you cannot see" in rows[0] and ">1<" in rows[0]
    assert f'<a href="/tasks/{mine.id}">visible-run</a>' in rows[1] and ">2<" in rows[1]
    assert "<a " not in rows[0] and "<button" not in rows[0]
    for leak in (secret.id, "secret-plan", hidden):
        assert leak not in html


# ---------------------------------------------------------------- models
def register(store: Store, name: str, versions: int, task_id: str | None = None) -> str:
    data = b"weights " + name.encode()
    blob = store.artifacts.put_blob(io.BytesIO(data))
    for _ in range(versions):
        store.models.create_model(ModelCreate(name=name, framework="keras", format="keras",
                                              sha256=blob.sha256, size=blob.size,
                                              task_id=task_id, tags=["cnn"]))
    return blob.sha256


def set_stage(client: httpx.Client, name: str, stage: str, version: int) -> dict[str, Any]:
    """What models.js sends for a promote and for a rollback."""
    answer = client.post(f"{API}/models/stage", headers=csrf(client),
                         json={"name": name, "stage": stage, "version": version})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_models_page_shows_versions_stages_promotes_rollbacks_and_their_history(
        store: Store, browser: httpx.Client, shared_server: ServerProcess) -> None:
    name = unique("cnn")
    task_id = store.tasks.create_task(TaskCreate(project=unique("models"), name="train")).id
    sha = register(store, name, 2, task_id=task_id)

    overview = page(browser, "/models")
    assert f'<a href="/models?name={name}">{name}</a>' in overview
    html = page(browser, f"/models?name={name}")
    versions = section(html, '<table class="grid" id="versions">', "</table>")
    assert re.findall(r'<tr data-version="(\d+)"', versions) == ["2", "1"]
    assert f'href="{API}/blobs/{sha}"' in versions and f'href="/tasks/{task_id}"' in versions
    assert "keras" in versions and '<span class="tag">cnn</span>' in versions
    assert "No stage points at a version" in html and "No stage of this model" in html
    assert '<option value="production">' in html and '<option value="staging">' in html
    blob = browser.get(f"{API}/blobs/{sha}")
    assert blob.status_code == 200 and blob.content == b"weights " + name.encode()

    assert set_stage(browser, name, "production", 2)["stages"] == ["production"]
    html = page(browser, f"/models?name={name}")
    stages = section(html, '<table class="grid" id="stages">', "</table>")
    assert '<tr data-stage="production" data-version="2">' in stages
    assert re.search(r'data-action="rollback" data-stage="production" data-from="2" '
                     r'data-version="1">roll back to v1<', stages)
    assert shared_server.admin_user in stages

    assert set_stage(browser, name, "production", 1)["version"] == 1  # the rollback
    html = page(browser, f"/models?name={name}")
    stages = section(html, '<table class="grid" id="stages">', "</table>")
    assert '<tr data-stage="production" data-version="1">' in stages
    assert "no earlier version" in stages
    audit = section(html, '<table class="grid" id="audit">', "</table>")
    rows = re.findall(r"<tr data-event=\"\d+\">(.*?)</tr>", audit, re.S)
    assert len(rows) == 2
    assert "rollback" in rows[0] and "v2 → v1" in rows[0]
    assert "promote" in rows[1] and "set to v2" in rows[1]
    assert all(shared_server.admin_user in row and "production" in row for row in rows)
    assert "production: v1" in section(page(browser, "/models"), f'<tr data-name="{name}">',
                                       "</tr>")

    missing = browser.get(f"/models?name={unique('nothing')}", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "no model named" in missing.text
    assert missing.headers["content-type"].startswith("text/html")


def test_a_rollback_goes_back_to_the_version_that_held_the_stage(
        store: Store, browser: httpx.Client) -> None:
    name = unique("clf")
    register(store, name, 3)
    set_stage(browser, name, "staging", 1)
    set_stage(browser, name, "staging", 3)
    html = page(browser, f"/models?name={name}")
    assert re.search(r'data-stage="staging" data-from="3" data-version="1">roll back to v1<',
                     html)


def test_rollback_target_rules() -> None:
    from datetime import UTC, datetime

    from tunehouse.store.records import AuditEvent

    def moved(before: Any, after: int) -> AuditEvent:
        return AuditEvent(id=1, user="u", action="model.stage", target_type="model",
                          target_id="m", details={"stage": "production", "from": before,
                                                  "to": after}, created=datetime.now(UTC))

    assert rollback_target(3, moved(1, 3), {1, 2, 3}) == 1
    assert rollback_target(3, moved(None, 3), {1, 2, 3}) == 2
    assert rollback_target(2, moved(3, 2), {1, 2, 3}) == 1  # rolled back already: go earlier
    assert rollback_target(1, None, {1, 2}) is None


# ---------------------------------------------------------------- preferences
PINS = [{"kind": "metric_over_time", "spec": "metric:accuracy/validation:max",
         "title": "Best accuracy"},
        {"kind": "running_latest", "spec": "metric::monitor:/gpu0_utilization"}]


def test_preferences_round_trip_per_user(store: Store, browser: httpx.Client,
                                         shared_server: ServerProcess) -> None:
    key = f"dashboard:{uuid.uuid4().hex}"
    assert browser.get(f"{API}/preferences/{key}").json() == {"key": key, "value": None}
    saved = browser.put(f"{API}/preferences/{key}", json={"value": PINS}, headers=csrf(browser))
    assert saved.status_code == 200, saved.text
    kept = [PINS[0], {**PINS[1], "title": ""}]
    assert saved.json() == {"key": key, "value": kept}
    assert browser.get(f"{API}/preferences/{key}").json()["value"] == kept
    with httpx.Client(base_url=shared_server.url + API, timeout=30,
                      auth=(shared_server.access_key, shared_server.secret_key)) as by_key:
        assert by_key.get(f"/preferences/{key}").json()["value"] == kept  # the same user

    other, password = new_user(store, shared_server)
    with closing(sign_in(shared_server, other, password)) as second:
        assert second.get(f"{API}/preferences/{key}").json()["value"] is None
        mine = [{"kind": "metric_over_time", "spec": "metric:loss/train:min", "title": "mine"}]
        assert second.put(f"{API}/preferences/{key}", json={"value": mine},
                          headers=csrf(second)).status_code == 200
        assert second.get(f"{API}/preferences/{key}").json()["value"] == mine
    assert browser.get(f"{API}/preferences/{key}").json()["value"] == kept

    other_key = unique("ui.theme")
    assert browser.put(f"{API}/preferences/{other_key}", json={"value": {"dark": True}},
                       headers=csrf(browser)).json()["value"] == {"dark": True}
    cleared = browser.put(f"{API}/preferences/{key}", json={"value": None}, headers=csrf(browser))
    assert cleared.status_code == 200 and cleared.json()["value"] is None
    assert browser.get(f"{API}/preferences/{key}").json()["value"] is None


@pytest.mark.parametrize(("value", "problem"), [
    ([{"kind": "pie", "spec": "metric:a/b"}], "value[0].kind"),
    ([{"kind": "metric_over_time", "spec": "param:General/lr"}],
     "'param:General/lr' is not a metric column: use metric:<title>/<series>"),
    ([{"kind": "metric_over_time", "spec": "metric:no-series"}], "is not a metric column"),
    ([{"kind": "metric_over_time"}], "value[0].spec: Field required"),
    ([{"kind": "metric_over_time", "spec": "metric:a/b", "colour": "red"}], "colour"),
    ({"kind": "metric_over_time"}, "valid list"),
    ([PINS[0]] * (DASHBOARD_MAX_PINS + 1), f"at most {DASHBOARD_MAX_PINS} items"),
])
def test_invalid_pins_are_refused_naming_the_problem(browser: httpx.Client, value: Any,
                                                     problem: str) -> None:
    key = f"dashboard:{uuid.uuid4().hex}"
    answer = browser.put(f"{API}/preferences/{key}", json={"value": value},
                         headers=csrf(browser))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid" and problem in error["message"], error
    assert browser.get(f"{API}/preferences/{key}").json()["value"] is None


def test_preference_limits_and_csrf(browser: httpx.Client) -> None:
    key = unique("big")
    big = browser.put(f"{API}/preferences/{key}", headers=csrf(browser),
                      json={"value": "x" * PREFERENCE_MAX_BYTES})
    assert big.status_code == 422 and f"at most {PREFERENCE_MAX_BYTES}" in big.text
    bad_key = browser.put(f"{API}/preferences/bad%20key!", json={"value": 1},
                          headers=csrf(browser))
    assert bad_key.status_code == 422 and "invalid preference key" in bad_key.text
    assert browser.put(f"{API}/preferences/{key}", json={}, headers=csrf(browser)
                       ).status_code == 422  # no value at all
    refused = browser.put(f"{API}/preferences/{key}", json={"value": 1})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    wrong = browser.put(f"{API}/preferences/{key}", json={"value": 1},
                        headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert browser.get(f"{API}/preferences/{key}").json()["value"] is None
    with httpx.Client(base_url=browser.base_url, timeout=30) as anonymous:
        assert anonymous.get(f"{API}/preferences/{key}").status_code == 401


def test_check_preference_leaves_other_keys_alone() -> None:
    assert check_preference("notes", ["anything", 1]) == ["anything", 1]
    with pytest.raises(InvalidInput, match="dashboard:x"):
        check_preference("dashboard:x", "not a list")


# ---------------------------------------------------------------- dashboard
def report(store: Store, task_id: str, points: list[tuple[str, str, float]]) -> None:
    now = time.time()
    store.events.add_events(EventBatch(
        batch_id=uuid.uuid4().hex, task_id=task_id,
        scalars=[ScalarEvent(title, series, i, value, now + i)
                 for i, (title, series, value) in enumerate(points)]))


def test_dashboard_renders_the_users_pins_and_the_data_its_charts_read(
        store: Store, browser: httpx.Client, shared_server: ServerProcess) -> None:
    project_name = unique("dash")
    done: list[str] = []
    live: list[str] = []
    for index, accuracy in enumerate((0.6, 0.8, 0.7)):
        task_id = store.tasks.create_task(TaskCreate(project=project_name, name=f"run {index}")).id
        report(store, task_id, [("accuracy", "validation", accuracy / 2),
                                ("accuracy", "validation", accuracy)])
        store.tasks.change_status(task_id, StatusChange(status=TaskStatus.in_progress))
        store.tasks.change_status(task_id, StatusChange(status=TaskStatus.completed))
        done.append(task_id)
    running = store.tasks.create_task(TaskCreate(project=project_name, name="busy")).id
    store.tasks.change_status(running, StatusChange(status=TaskStatus.in_progress))
    report(store, running, [(":monitor:", "gpu0_utilization", 40.0),
                            (":monitor:", "gpu0_utilization", 93.0)])
    live.append(running)
    project = store.tasks.get_project(project_name)

    empty = page(browser, f"/projects/{project.id}/dashboard")
    assert "No chart pinned yet" in empty
    assert "metric:accuracy/validation:max" in empty  # suggested in the form
    assert 'data-spec="' not in empty
    key = f"dashboard:{project.id}"
    assert browser.put(f"{API}/preferences/{key}", json={"value": PINS},
                       headers=csrf(browser)).status_code == 200
    html = page(browser, f"/projects/{project.id}/dashboard")
    assert f'data-key="{key}"' in html and f'data-project="{project.id}"' in html
    assert '<strong>Best accuracy</strong>' in html
    assert 'data-kind="running_latest" data-spec="metric::monitor:/gpu0_utilization"' in html
    assert html.count('data-action="unpin"') == 2
    assert "/static/vendor/plotly.min.js" in html and "/static/ui/dashboard.js" in html
    assert '<script type="application/json" id="dashboard-pins">' in html
    assert "Best accuracy" in section(html, 'id="dashboard-pins">', "</script>")

    # the one listing call each chart kind makes (dashboard.js)
    spec = PINS[0]["spec"]
    history = browser.get(f"{API}/tasks", params={
        "project": project.id, "columns": spec, "order_by": "created", "descending": "false",
        "limit": "1000"}).json()
    assert [t["id"] for t in history["tasks"]] == [*done, running]
    assert [history["values"].get(t, {}).get(spec) for t in done] == [0.6, 0.8, 0.7]
    gpu = PINS[1]["spec"]
    now = browser.get(f"{API}/tasks", params=[
        ("project", project.id), ("columns", gpu), ("order_by", "created"),
        ("descending", "false"), ("limit", "1000"), ("status", "in_progress")]).json()
    assert [t["id"] for t in now["tasks"]] == live
    assert now["values"][running][gpu] == 93.0

    other, password = new_user(store, shared_server)
    with closing(sign_in(shared_server, other, password)) as second:
        theirs = page(second, f"/projects/{project.id}/dashboard")
        assert "No chart pinned yet" in theirs and "Best accuracy" not in theirs

    assert browser.get(f"/projects/{uuid.uuid4().hex}/dashboard").status_code == 404
    with httpx.Client(base_url=shared_server.url, timeout=30) as anonymous:
        answer = anonymous.get(f"/projects/{project.id}/dashboard",
                               headers={"Accept": "text/html"})
        assert answer.status_code == 303 and "/login?next=" in answer.headers["location"]


def test_the_pages_scripts_are_served(browser: httpx.Client) -> None:
    for name in ("queues", "models", "dashboard"):
        answer = browser.get(f"/static/ui/{name}.js")
        assert answer.status_code == 200 and "use strict" in answer.text
    css = browser.get("/static/ui/ui.css").text
    assert ".pin-chart" in css and ".meter" in css
