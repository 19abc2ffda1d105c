"""The search page follows a running search in a headless browser: its timeline, its
best-so-far chart and its counts change as trials start and end (the page's live part is
read again every 5 s), and the refresh stops when the search ends. The search is made
through the store (``seed_search``), its last trial started and ended here on a named
worker, as an agent would."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.helpers.server import ServerProcess
from tests.hpo.helpers import Seeded, seed_search
from tests.hpo.test_report import SPACE, example_trials
from tunehouse.store.base import Store
from tunehouse.store.records import EventBatch, ScalarEvent, StatusChange, TaskQuery, TaskStatus

WORKER = "gpu-box-1"


def _queued_trial(store: Store, search: str) -> str:
    children = store.tasks.list_tasks(TaskQuery(parent_id=search, limit=100)).tasks
    return next(task.id for task in children if task.status is TaskStatus.queued)


@pytest.mark.browser
def test_the_search_page_follows_a_running_search(page, shared_server: ServerProcess,  # type: ignore[no-untyped-def]
                                                   store: Store, shot) -> None:
    trials = [*example_trials(2), Seeded({"Args/lr": "0.004", "Args/dropout": "0.2",
                                          "Args/batch": "32"}, None, "running")]
    search = seed_search(store, SPACE, trials, ended=False,
                         project=f"ui-live/{uuid.uuid4().hex[:8]}")
    store.tasks.change_status(search, StatusChange(status=TaskStatus.in_progress,
                                                   reason="searching"))
    page.goto(f"{shared_server.url}/searches/{search}")
    assert page.get_attribute("#search-actions", "data-live") == "yes"
    page.wait_for_selector("#search-timeline[data-bars='3'][data-lanes='2'] svg.timeline")
    assert page.locator("#search-timeline a[data-state='queued']").count() == 1
    page.wait_for_selector("#best-chart[data-points='2'] svg.main-svg")

    # the waiting trial starts on a worker, runs a while and completes with the best value
    trial = _queued_trial(store, search)
    time.sleep(1.5)
    store.tasks.change_status(trial, StatusChange(status=TaskStatus.in_progress, worker=WORKER))
    page.wait_for_selector(f"#search-timeline text:has-text('{WORKER} · slot 1')",
                           timeout=20_000)
    page.wait_for_selector("#search-timeline a[data-state='running'] rect.tl-running")
    shot(page, "search-live-running")
    time.sleep(1.5)
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=trial, scalars=[
        ScalarEvent("objective", "value", 1, 0.99, time.time())]))
    store.tasks.change_status(trial, StatusChange(status=TaskStatus.completed))
    page.wait_for_selector("#best-chart[data-points='3']", timeout=20_000)
    assert page.locator("#search-timeline rect.tl-completed").count() == 3
    assert "completed 3" in page.inner_text("#search-progress")

    # the search ends: the page reloads once with its final state and stops refreshing
    store.tasks.change_status(search, StatusChange(status=TaskStatus.completed, reason="done"))
    page.wait_for_selector("#search-actions[data-live='no']", timeout=20_000)
    page.wait_for_selector("#search-timeline[data-bars='3'] svg.timeline")
    refreshed = page.get_attribute("#search-live", "data-refreshed")
    page.wait_for_timeout(6_000)
    assert page.get_attribute("#search-live", "data-refreshed") == refreshed
    page.select_option("#best-x", "time")
    page.wait_for_selector("#best-chart .xtitle:has-text('minutes since')")
    shot(page, "search-live-ended")
