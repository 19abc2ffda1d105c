"""The scalar charts in real headless Chromium: series of different units or scales on
charts of their own, the resource monitor as machine and GPU charts against wall or
relative time, a constant series drawn at its value, and the monitor's samples left out
of the last iteration (task page and compare page).

Each test fails on any JavaScript error (see ``conftest.py``); screenshots go to
``test-output/screenshots``.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.helpers.server import ServerProcess
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
    ScalarEvent,
    StatusChange,
    TaskCreate,
    TaskStatus,
)

pytestmark = pytest.mark.browser

EPOCHS = 6
LEARNING_RATE = 0.0089
#: (series, value at sample i) of the resource monitor, sampled every 5 s for 45 s.
MONITOR = [("cpu_percent", lambda i: 40.0 + i), ("memory_used_percent", lambda i: 61.0),
           ("memory_used_gb", lambda i: 9.5 + i / 10), ("process_cpu_percent", lambda i: 95.0),
           ("process_rss_mb", lambda i: 1800.0 + 20 * i),
           ("gpu0_utilization", lambda i: 80.0 + i), ("gpu0_memory_mb", lambda i: 7000.0),
           ("gpu1_utilization", lambda i: 70.0), ("gpu1_memory_mb", lambda i: 6500.0 + i)]
SAMPLES = 10


def seed_trained(store: Store, project: str, name: str, scale: float = 1.0) -> str:
    """A completed 6-epoch task like the Keras integration's: loss, a constant learning
    rate, speed, an untitled-unit pair of scales and the resource monitor (whose
    iteration counts seconds, up to 45)."""
    task = store.tasks.create_task(TaskCreate(project=project, name=name))
    start = time.time() - 60
    scalars = []
    for epoch in range(EPOCHS):
        wall = start + 7 * epoch
        scalars += [ScalarEvent("loss", "train", epoch, scale / (epoch + 1), wall),
                    ScalarEvent("loss", "validation", epoch, 1.2 * scale / (epoch + 1), wall),
                    ScalarEvent("learning_rate", "learning_rate", epoch, LEARNING_RATE, wall),
                    ScalarEvent("speed", "epoch_seconds", epoch, 3.0 + epoch / 10, wall),
                    ScalarEvent("speed", "examples_per_second", epoch, 600.0 - epoch, wall),
                    ScalarEvent("serving", "latency", epoch, 2.5 + epoch / 10, wall),
                    ScalarEvent("serving", "queries", epoch, 700.0 + epoch, wall)]
    for i in range(SAMPLES):
        scalars += [ScalarEvent(":monitor:", series, 5 * i, value(i), start + 5 * i)
                    for series, value in MONITOR]
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id,
                                       scalars=scalars))
    store.tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
    store.tasks.change_status(task.id, StatusChange(status=TaskStatus.completed))
    return task.id


def charts(page) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Every drawn chart by its heading: title, unit, series, x axis and Plotly's y range."""
    return page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('#charts .chart')].map((box) => [box.dataset.group, {
            title: box.dataset.title, unit: box.dataset.unit, series: box.dataset.series,
            axis: box.dataset.axis, y: box._fullLayout.yaxis.range,
            x: box._fullLayout.xaxis.title.text}]))""")


def test_units_scales_constants_and_monitor_charts(page, shared_server: ServerProcess,
                                                   store: Store, shot) -> None:  # type: ignore[no-untyped-def]
    project = f"ui-charts/{uuid.uuid4().hex[:8]}"
    task_id = seed_trained(store, project, "trial 3")
    page.goto(f"{shared_server.url}/tasks/{task_id}")
    # the monitor sampled up to 45 s: the task still trained 6 epochs (0..5)
    last = page.locator("dt:has-text('Last iteration') + dd").inner_text()
    assert last == str(EPOCHS - 1)
    page.click("nav.tabs a[data-tab=scalars]")
    page.wait_for_selector("#charts[data-drawn='13'] .chart svg.main-svg")
    drawn = charts(page)
    order = list(drawn)
    assert order == ["learning_rate", "loss", "serving · latency", "serving · queries",
                     "speed · per second", "speed · seconds", "machine · %", "machine · GB", "machine · MB",
                     "GPU 0 · %", "GPU 0 · MB", "GPU 1 · %", "GPU 1 · MB"]
    # same unit and overlapping ranges: train and validation stay together
    assert drawn["loss"]["series"] == "train,validation"
    # a constant series is drawn at its value, not at 0 on -1..1
    low, high = drawn["learning_rate"]["y"]
    assert 0.0089 * 0.85 < low < LEARNING_RATE < high < 0.0089 * 1.15
    # seconds beside examples per second: each on an axis of its own scale
    seconds, per_second = drawn["speed · seconds"], drawn["speed · per second"]
    assert (seconds["unit"], seconds["series"]) == ("seconds", "epoch_seconds")
    assert seconds["y"][1] < 10 and per_second["y"][0] > 500
    # no unit in the names, but values 2.5..3 and 700..705 are split by scale
    assert drawn["serving · latency"]["y"][1] < 10 and drawn["serving · queries"]["y"][0] > 600
    # the monitor: machine and per-GPU charts, each of one unit, against relative time
    assert drawn["machine · %"]["series"] == "cpu_percent,memory_used_percent,process_cpu_percent"
    assert (drawn["machine · GB"]["series"], drawn["machine · MB"]["series"]) == (
        "memory_used_gb", "process_rss_mb")
    assert drawn["GPU 1 · MB"]["series"] == "gpu1_memory_mb"
    assert {chart["axis"] for chart in drawn.values() if chart["title"] == ":monitor:"} == {"relative"}
    assert drawn["machine · %"]["x"] == "seconds" and drawn["loss"]["x"] == "iteration"
    assert drawn["GPU 0 · %"]["unit"] == "%" and drawn["GPU 0 · MB"]["unit"] == "MB"
    shot(page, "task-scalars-units-and-monitor")

    page.select_option("#resource-axis", "wall")
    page.wait_for_selector("#charts .chart[data-group='machine · %'][data-axis='wall']")
    drawn = charts(page)
    assert {chart["axis"] for chart in drawn.values() if chart["title"] == ":monitor:"} == {"wall"}
    assert drawn["loss"]["axis"] == "iteration"
    page.check("#log-scale")
    page.wait_for_function("() => document.querySelector(\"#charts .chart[data-group="
                           "'learning_rate']\")._fullLayout.yaxis.type === 'log'")
    low, high = charts(page)["learning_rate"]["y"]  # log10 units: half a decade each side
    assert low < -2.05 < high and abs((low + high) / 2 - -2.0506) < 0.01
    shot(page, "task-scalars-monitor-wall-time")


def test_compare_counts_training_iterations_and_overlays_monitors(
        page, shared_server: ServerProcess, store: Store, shot) -> None:  # type: ignore[no-untyped-def]
    project = f"ui-charts/{uuid.uuid4().hex[:8]}"
    ids = [seed_trained(store, project, f"trial {n}", scale) for n, scale in ((1, 1.0), (2, 2.0))]
    page.goto(f"{shared_server.url}/compare?ids={','.join(ids)}")
    rows = page.locator("#compare-tasks tbody tr td:nth-child(5)").all_inner_texts()
    assert rows == [str(EPOCHS - 1)] * 2
    page.wait_for_selector("#charts[data-drawn='13'] .chart svg.main-svg")
    gpu = page.locator("#charts .chart[data-group='GPU 0 · %'] .legend .traces")
    assert sorted(gpu.all_text_contents()) == ["trial 1 · gpu0_utilization",
                                                 "trial 2 · gpu0_utilization"]
    shot(page, "compare-units-and-monitor")
