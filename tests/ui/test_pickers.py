"""Pickers instead of syntax, in headless Chromium: the experiment table's columns and
filters and a dashboard's pins are chosen from the metrics, resource series and
parameters the project recorded (``column_picker.js``), and the spec may still be
typed."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers.server import ServerProcess
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
    Parameter,
    ScalarEvent,
    StatusChange,
    TaskCreate,
    TaskStatus,
)

pytestmark = pytest.mark.browser


def seed_project(store: Store) -> str:
    """A project of three runs (``General/lr``; accuracy and loss, train and validation;
    the resource monitor's GPU utilisation). Returns its id."""
    name = f"ui-pick/{uuid.uuid4().hex[:8]}"
    for index, lr in enumerate((0.1, 0.2, 0.3)):
        task = store.tasks.create_task(TaskCreate(project=name, name=f"run {index}"))
        store.tasks.set_parameters(task.id, [Parameter(section="General", name="lr",
                                                       value=str(lr))])
        now = time.time()
        store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id, scalars=[
            ScalarEvent(title, series, 0, value, now) for title, series, value in (
                ("accuracy", "validation", 0.5 + lr), ("accuracy", "train", 0.6 + lr),
                ("loss", "validation", 1 - lr), (":monitor:", "gpu0_utilization", 90.0))]))
        store.tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
        store.tasks.change_status(task.id, StatusChange(status=TaskStatus.completed))
    return store.tasks.get_project(name).id


def picked(page, box: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The options of the picker in ``box``, by group label."""
    return page.eval_on_selector(box + " select.picker-what", """(select) => Object.fromEntries(
        [...select.querySelectorAll('optgroup')].map((g) => [g.label, [...g.children].map((o) => o.value)]))""")


def test_table_columns_and_filters_are_picked(page, shared_server: ServerProcess,  # type: ignore[no-untyped-def]
                                              store: Store, shot) -> None:
    project = seed_project(store)
    page.goto(f"{shared_server.url}/projects/{project}/tasks")
    page.click("details.chooser summary")
    offered = picked(page, "#column-chooser")
    assert offered["Metrics"] == ["metric:accuracy/train", "metric:accuracy/validation",
                                  "metric:loss/validation"]
    assert offered["Resources (monitor, speed)"] == ["metric::monitor:/gpu0_utilization"]
    assert offered["Parameters"] == ["param:General/lr"]
    page.select_option("#column-chooser select.picker-what", "metric:accuracy/validation")
    page.select_option("#column-chooser select.picker-field", ":max")
    assert page.input_value("#column-chooser input[data-picker=column]") == "metric:accuracy/validation:max"
    shot(page, "table-column-picker")
    page.click("#column-chooser button[type=submit]")
    page.wait_for_selector("#tasks th a[title='metric:accuracy/validation:max']")

    page.select_option("#table-filters select.picker-what", "param:General/lr")
    assert page.is_hidden("#table-filters select.picker-field")  # a parameter: no min/max
    page.select_option("#table-filters select.picker-op", ">=")
    page.type("#table-filters input[data-picker=filter]", "0.2")
    assert page.input_value("#table-filters input[data-picker=filter]") == "param:General/lr >= 0.2"
    page.select_option("#table-filters select.picker-op", "<")  # the typed value stays
    assert page.input_value("#table-filters input[data-picker=filter]") == "param:General/lr < 0.2"
    page.click("#table-filters button[type=submit]")
    page.wait_for_url("**filter=*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["filter"] == ["param:General/lr < 0.2"]
    assert query["col"] == ["metric:accuracy/validation:max"]
    assert page.locator("#tasks tbody tr[data-id]").count() == 1
    shot(page, "table-filter-picker")


def test_dashboard_metrics_are_picked_or_typed(page, shared_server: ServerProcess,  # type: ignore[no-untyped-def]
                                               store: Store, shot) -> None:
    project = seed_project(store)
    page.goto(f"{shared_server.url}/projects/{project}/dashboard")
    offered = picked(page, "#pin-form")
    assert "Parameters" not in offered and offered["Resources (monitor, speed)"] == [
        "metric::monitor:/gpu0_utilization"]
    page.select_option("#pin-form select.picker-what", "metric:accuracy/validation")
    page.select_option("#pin-form select.picker-field", ":max")
    assert page.input_value("#pin-spec") == "metric:accuracy/validation:max"
    page.click("#pin-form button[type=submit]")
    page.wait_for_selector(".pin[data-spec='metric:accuracy/validation:max'] .pin-chart[data-points='3']")
    page.select_option("#pin-kind", "running_latest")
    page.select_option("#pin-form select.picker-what", "metric::monitor:/gpu0_utilization")
    assert page.is_hidden("#pin-form select.picker-field")  # a resource: its latest value
    assert page.input_value("#pin-spec") == "metric::monitor:/gpu0_utilization"
    page.fill("#pin-spec", "metric:loss/validation:min")  # typing stays possible
    page.select_option("#pin-kind", "metric_over_time")
    page.click("#pin-form button[type=submit]")
    page.wait_for_selector(".pin[data-spec='metric:loss/validation:min'] .pin-chart[data-points='3']")
    shot(page, "dashboard-metric-picker")
