"""The web UI in real headless Chromium: sign-in, the projects list, the experiment
table, a task page with its curves and console, and clone -> edit -> enqueue.

Each test fails on any JavaScript error or request to a host other than 127.0.0.1
(see ``conftest.py``); screenshots of the pages go to ``test-output/screenshots``.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.helpers.server import ServerProcess
from tests.ui.conftest import PageWatch, login
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
    LogEvent,
    Parameter,
    ScalarEvent,
    TaskCreate,
    TaskStatus,
)

pytestmark = pytest.mark.browser


def seed_run(store: Store, project: str, name: str, lr: float, points: int = 40) -> str:
    """A completed task with parameters, two loss curves and a console."""
    task = store.tasks.create_task(TaskCreate(project=project, name=name))
    store.tasks.set_parameters(task.id, [
        Parameter(section="General", name="lr", value=str(lr), type="float"),
        Parameter(section="General", name="model.dropout", value="0.25", type="float"),
        Parameter(section="Args", name="epochs", value="5", type="int"),
    ])
    now = time.time()
    scalars = []
    for it in range(points):
        scalars.append(ScalarEvent("loss", "train", it, 1.0 / (it + 1) + lr, now + it))
        scalars.append(ScalarEvent("loss", "validation", it, 1.2 / (it + 1) + lr, now + it))
    store.events.add_events(EventBatch(
        batch_id=uuid.uuid4().hex, task_id=task.id, scalars=scalars,
        logs=[LogEvent("stdout", f"epoch {i} done", now + i) for i in range(5)]))
    store.tasks.change_status(task.id, _status(TaskStatus.in_progress))
    store.tasks.change_status(task.id, _status(TaskStatus.completed))
    return task.id


def _status(status: TaskStatus):  # type: ignore[no-untyped-def]
    from tunehouse.store.records import StatusChange

    return StatusChange(status=status)


def test_sign_in_refuses_a_wrong_password(anonymous_page, shared_server: ServerProcess,
                                          watch: PageWatch, shot) -> None:  # type: ignore[no-untyped-def]
    page = anonymous_page
    page.goto(f"{shared_server.url}/projects")
    assert "/login?next=%2Fprojects" in page.url
    page.fill("input[name=username]", shared_server.admin_user)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "invalid" in page.inner_text("p.error").lower()
    shot(page, "login-refused")
    login(page, shared_server)
    assert page.locator("h1").inner_text() == "Projects"
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{shared_server.url}/login")
    page.goto(f"{shared_server.url}/projects")
    assert "/login" in page.url
    watch.check()


def test_table_and_task_page_with_curves_and_console(page, shared_server: ServerProcess,
                                                     store: Store, shot) -> None:  # type: ignore[no-untyped-def]
    project = f"ui/{uuid.uuid4().hex[:8]}"
    ids = [seed_run(store, project, f"run {i}", lr) for i, lr in enumerate((0.3, 0.01, 0.1))]
    project_id = store.tasks.get_project(project).id

    page.goto(f"{shared_server.url}/projects")
    page.click(f"text={project}")
    page.wait_for_selector("table#tasks")
    assert page.locator("table#tasks tbody tr").count() == 3
    page.goto(f"{shared_server.url}/projects/{project_id}/tasks"
              "?col=param:General/lr&col=metric:loss/validation:min&order=param:General/lr&asc=1")
    names = page.locator("table#tasks tbody tr td:nth-child(2) a").all_inner_texts()
    assert names == ["run 1", "run 2", "run 0"]  # lr 0.01 < 0.1 < 0.3
    shot(page, "experiment-table")
    page.check(f"tr[data-id='{ids[0]}'] input.pick-one")
    page.check(f"tr[data-id='{ids[1]}'] input.pick-one")
    assert page.is_enabled("button[data-action=compare]")

    page.goto(f"{shared_server.url}/tasks/{ids[0]}")
    assert page.locator("h1").inner_text().startswith("run 0")
    shot(page, "task-overview")
    page.click("nav.tabs a[data-tab=parameters]")
    assert page.locator("#parameters h3").all_inner_texts() == ["Args", "General", "General / model"]
    page.click("nav.tabs a[data-tab=scalars]")
    page.wait_for_selector("#charts[data-drawn='1'] .chart svg.main-svg")
    chart = page.locator("#charts .chart").first
    assert chart.get_attribute("data-title") == "loss"
    assert chart.get_attribute("data-points") == "80"
    assert page.locator("#charts .chart .legend .traces").count() == 2
    page.check("#log-scale")
    page.select_option("#x-axis", "relative")
    shot(page, "task-scalars")
    page.click("nav.tabs a[data-tab=console]")
    page.wait_for_selector("#console-lines[data-loaded=yes]")
    assert page.locator("#console-lines .line").count() == 5
    page.fill("#console-search", "epoch 3")
    assert page.locator("#console-lines .line:visible").count() == 1
    page.click("nav.tabs a[data-tab=environment]")
    page.click("nav.tabs a[data-tab=code]")
    page.click("nav.tabs a[data-tab=artifacts]")


def test_archived_tasks_leave_the_table_until_asked_for(page, shared_server: ServerProcess,
                                                       store: Store) -> None:  # type: ignore[no-untyped-def]
    project = f"ui/{uuid.uuid4().hex[:8]}"
    kept, archived = (seed_run(store, project, name, 0.1, points=2) for name in ("kept", "old"))
    page.goto(f"{shared_server.url}/projects/{store.tasks.get_project(project).id}/tasks")
    page.check(f"tr[data-id='{archived}'] input.pick-one")
    page.click("button[data-action=archive]")
    page.wait_for_selector(f"tr[data-id='{archived}']", state="detached")
    assert store.tasks.get_task(archived).tags == ["archived"]
    assert page.locator("table#tasks tbody tr").count() == 1
    assert page.locator("h1 .count").inner_text() == "1 task"
    page.check("#table-filters input[name=archived]")
    page.click("#table-filters button[type=submit]")
    page.wait_for_selector(f"tr[data-id='{archived}']")
    assert page.locator(f"tr[data-id='{archived}'] .tag").inner_text() == "archived"
    assert {row.get_attribute("data-id") for row in page.locator("table#tasks tbody tr").all()} \
        == {kept, archived}


def test_clone_edit_a_parameter_and_enqueue(page, shared_server: ServerProcess,
                                           store: Store, shot) -> None:  # type: ignore[no-untyped-def]
    source = seed_run(store, f"ui/{uuid.uuid4().hex[:8]}", "baseline", 0.1)
    queue = store.queues.get_or_create_queue(f"ui-{uuid.uuid4().hex[:8]}").name
    page.goto(f"{shared_server.url}/tasks/{source}")
    page.click("button[data-action=clone]")
    page.wait_for_url("**#parameters")
    clone_id = page.url.split("/tasks/")[1].split("#")[0]
    assert clone_id != source
    page.fill("input[aria-label='General/lr']", "oops")
    page.click("#params-form button[type=submit]")
    assert "not a valid float" in page.inner_text("#notice")
    page.fill("input[aria-label='General/lr']", "0.05")
    page.click("#params-form button[type=submit]")
    page.wait_for_selector("#notice:has-text('parameters saved')")
    shot(page, "task-draft-parameters")
    page.select_option("#enqueue-queue", queue)
    page.click("button[data-action=enqueue]")
    page.wait_for_selector("#task-status:has-text('queued')")
    params = {p.name: p.value for p in store.tasks.get_parameters(clone_id)}
    assert params["lr"] == "0.05"
    clone = store.tasks.get_task(clone_id)
    assert clone.status == TaskStatus.queued and clone.queue == queue
    store.queues.dequeue(clone_id)


def test_api_docs_work_offline(page, shared_server: ServerProcess, shot) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{shared_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 50
    shot(page, "api-docs")


def test_error_pages_show_the_message(page, shared_server: ServerProcess) -> None:  # type: ignore[no-untyped-def]
    response = page.goto(f"{shared_server.url}/tasks/{'0' * 32}")
    assert response.status == 404
    assert "not found" in page.inner_text("p.error").lower()
    assert "Traceback" not in page.content()
