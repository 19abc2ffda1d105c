"""The compare page, the search dashboard and the start-a-search form, over HTTP against
the session's shared server, signed in through the login form like a browser (the
cookies, and the CSRF token in forms and in the JSON API's header)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from markupsafe import escape

from tests.helpers.server import ServerProcess
from tests.helpers.web import sign_in
from tests.hpo.helpers import Env
from tunehouse.client import open_store
from tunehouse.contract import CSRF_COOKIE, CSRF_HEADER
from tunehouse.errors import InvalidInput
from tunehouse.hpo.config import CONFIG_NAME, SearchConfig
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
    Parameter,
    ScalarEvent,
    StatusChange,
    TaskCreate,
    TaskStatus,
    TaskType,
)


@pytest.fixture(scope="module")
def web(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client signed in as the admin through the login form (it keeps the cookies)."""
    client = sign_in(shared_server, headers={"Accept": "text/html"})
    yield client
    client.close()


def csrf(web: httpx.Client) -> str:
    return str(web.cookies.get(CSRF_COOKIE))


def row(html: str, attribute: str) -> str:
    """The inside of the first table row carrying ``attribute`` (e.g. data-key="x")."""
    found = re.search(rf"<tr[^>]*{re.escape(attribute)}[^>]*>(.*?)</tr>", html, re.S)
    assert found is not None, f"no row with {attribute}"
    return found.group(0)


def section(html: str, element_id: str) -> str:
    """The HTML from the element ``element_id`` to the end of its table."""
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</table>", start)]


def error_message(html: str) -> str:
    found = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    assert found is not None, html[:2000]
    return found.group(1).strip()


def seed_task(store: Store, project: str, name: str, params: dict[str, str],
              losses: list[float]) -> str:
    """A completed task with ``General`` parameters and a loss/validation curve."""
    task = store.tasks.create_task(TaskCreate(project=project, name=name))
    store.tasks.set_parameters(task.id, [Parameter(section="General", name=key, value=value)
                                         for key, value in params.items()])
    now = time.time()
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id, scalars=[
        ScalarEvent("loss", "validation", it, value, now + it)
        for it, value in enumerate(losses)]))
    store.tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
    store.tasks.change_status(task.id, StatusChange(status=TaskStatus.completed))
    return task.id


# ------------------------------------------------------------------ compare
def test_compare_shows_tasks_differences_and_metrics(web: httpx.Client, store: Store) -> None:
    project = f"ui-compare/{uuid.uuid4().hex[:8]}"
    first = seed_task(store, project, "small lr", {"lr": "0.001", "batch": "32"},
                      [0.9, 0.5, 0.7])
    second = seed_task(store, project, "big lr", {"lr": "0.01", "batch": "32",
                                                  "dropout": "0.2"}, [1.5, 1.25])
    page = web.get(f"/compare?ids={first},{second}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "small lr" in html and "big lr" in html
    lr = row(html, 'data-key="General/lr"')
    assert 'class="differs"' in lr and lr.count("diff-cell") == 2
    assert "0.001" in lr and "0.01" in lr
    batch = row(html, 'data-key="General/batch"')
    assert 'class="same"' in batch and "diff-cell" not in batch
    assert "diff-cell" in row(html, 'data-key="General/dropout"')  # one task lacks it
    cells = {field: re.findall(r'<td class="n[^"]*">([^<]*)</td>',
                               row(html, f'data-metric="loss/validation" data-field="{field}"'))
             for field in ("last", "min", "max")}
    assert cells == {"last": ["0.7", "1.25"], "min": ["0.5", "1.25"], "max": ["0.9", "1.5"]}
    charts = re.search(r'<div id="charts"[^>]*data-ids="([^"]+)"', html)
    assert charts is not None and charts.group(1) == f"{first},{second}"
    for control in ("x-axis", "smoothing", "log-scale", "parcoords-metric", "scatter-param",
                    "scatter-metric"):
        assert f'id="{control}"' in html
    block = re.search(r'<script type="application/json" id="compare-data">(.*?)</script>',
                      html, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert [t["params"]["General/lr"] for t in data["tasks"]] == ["0.001", "0.01"]
    assert data["tasks"][1]["metrics"]["loss/validation"] == {"last": 1.25, "min": 1.25,
                                                             "max": 1.5}


@pytest.mark.parametrize("count", [1, 51])
def test_compare_refuses_too_few_or_too_many_tasks(web: httpx.Client, count: int) -> None:
    ids = ",".join(uuid.uuid4().hex for _ in range(count))
    page = web.get(f"/compare?ids={ids}")
    assert page.status_code == 422
    assert error_message(page.text) == f"compare takes 2 to 50 tasks; {count} given (ids=a,b,...)"


def test_compare_of_an_unknown_task_is_an_error_page(web: httpx.Client, store: Store) -> None:
    known = seed_task(store, f"ui-compare/{uuid.uuid4().hex[:8]}", "known", {}, [1.0])
    missing = uuid.uuid4().hex
    page = web.get(f"/compare?ids={known},{missing}")
    assert page.status_code == 404
    assert missing in error_message(page.text) and "not found" in page.text


# ------------------------------------------------------------------ search dashboard
@pytest.fixture(scope="module")
def finished_search(shared_server: ServerProcess, store: Store,
                    tmp_path_factory: pytest.TempPathFactory) -> str:
    """A grid search run here (local agent, real trials through the server): x = 0.1,
    0.2 and 0.3 complete, x = 0.9 fails ("x=0.9 is above 0.5")."""
    from tunehouse.hpo.optimizer import HyperParameterOptimizer
    from tunehouse.hpo.space import GridParameterRange

    home = tmp_path_factory.mktemp("ui-search") / "home"
    settings = Settings.from_env(shared_server.client_env(home=home))
    with open_store(settings) as client:
        env = Env(home, settings, client)
        base = env.base_task(epochs=2, sleep=0.01, fail_above=0.5,
                             project=f"ui-search/{uuid.uuid4().hex[:8]}")
        search = HyperParameterOptimizer(
            base, [GridParameterRange("x", [0.1, 0.2, 0.3, 0.9])], "objective", "value",
            strategy="grid", local=4, max_number_of_concurrent_tasks=4, total_max_jobs=4,
            store=client, settings=settings)
        search.start()
        assert search.wait(timeout=120)
        assert search.ending == ("completed", "4 trials: 3 completed, 0 pruned, 1 failed")
        return search.id or ""


def test_dashboard_of_a_finished_search(web: httpx.Client, store: Store,
                                        finished_search: str) -> None:
    page = web.get(f"/searches/{finished_search}")
    assert page.status_code == 200, page.text
    html = page.text
    board = section(html, "leaderboard")
    states = re.findall(r'<tr data-trial="(\d+)" data-state="(\w+)">', board)
    assert sorted(state for _, state in states) == ["completed"] * 3 + ["failed"]
    assert states[0][1] == "completed" and states[-1][1] == "failed"
    best = row(board, f'data-trial="{states[0][0]}"')
    assert '<code title="0.3">0.3</code>' in best  # the quality peaks at x=0.3
    assert "objective/value" in board and "Args/x" in board
    problems = section(html, "problems")
    assert problems.count("<tr data-trial=") == 1
    assert "exit code 1: x=0.9 is above 0.5" in problems
    assert "<strong>4 / 4</strong> trials done (100%)" in html
    assert 'data-url="/searches/' in html  # the importance, loaded by search.js
    importance = web.get(f"/searches/{finished_search}/importance").json()
    assert importance["objective"] == "objective/value" and importance["complete"] == 3
    assert [name for name, _ in importance["importance"]] == ["Args/x"]
    assert importance["n_trials"] == 3 and importance["reliable"] is False
    assert 'id="search-parcoords"' in html and 'data-live="no"' in html
    data = json.loads(re.search(r'id="search-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert len(data["trials"]) == 4 and data["objectives"][0]["label"] == "objective/value"
    # the timeline: each trial on a slot of the search's local agent, after it was made
    spans = data["timeline"]
    assert sorted(s["state"] for s in spans) == ["completed"] * 3 + ["failed"]
    assert all(s["lane"].startswith("hpo-local-") and " · slot " in s["lane"] for s in spans)
    assert all(s["created"] <= s["started"] <= s["ended"] <= data["now"] for s in spans)
    assert data["running"] is False and data["origin"] <= min(s["started"] for s in spans)
    # its trials as the experiment table: the search's children, objective and parameters
    link = re.search(r'href="([^"]+)" id="trials-table"', html).group(1)  # type: ignore[union-attr]
    table = web.get(link.replace("&amp;", "&"))
    assert table.status_code == 200 and 'id="parent-filter"' in table.text
    assert table.text.count('<tr data-id="') == 4
    assert 'title="metric:objective/value"' in table.text and 'title="param:Args/x"' in table.text
    assert 'action="/searches/' in html and 'data-action="stop"' not in html  # ended


def test_dashboard_of_a_task_that_is_not_a_search(web: httpx.Client, store: Store) -> None:
    task = seed_task(store, f"ui-search/{uuid.uuid4().hex[:8]}", "plain", {}, [1.0])
    page = web.get(f"/searches/{task}")
    assert page.status_code == 422
    assert error_message(page.text) == f"task {task} is not a search (its type is training)"


def _ended_controller(store: Store) -> str:
    """A search controller that ended before running anything (no trials)."""
    from tunehouse.hpo.optimizer import HyperParameterOptimizer
    from tunehouse.hpo.space import parse_space

    base = seed_task(store, f"ui-search/{uuid.uuid4().hex[:8]}", "base", {"x": "0.5"}, [1.0])
    search = HyperParameterOptimizer(base, parse_space("x: uniform(0.0, 1.0)"), "loss",
                                     "validation", "min", strategy="random",
                                     execution_queue="default", total_max_jobs=3, store=store)
    controller = search.create_controller()
    store.tasks.change_status(controller.id, StatusChange(status=TaskStatus.aborted,
                                                          reason="stopped by request"))
    return controller.id


def test_resume_and_stop_a_search_from_its_dashboard(web: httpx.Client, store: Store) -> None:
    controller = _ended_controller(store)
    queue = f"svc-{uuid.uuid4().hex[:8]}"
    refused = web.post(f"/searches/{controller}/resume", data={"queue": queue})
    assert refused.status_code == 403
    answer = web.post(f"/searches/{controller}/resume",
                      data={"csrf": csrf(web), "queue": queue, "max_trials": "5"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/searches/{controller}"
    task = store.tasks.get_task(controller)
    assert task.status is TaskStatus.queued and task.queue == queue
    stored = {c.name: c.text for c in store.tasks.get_configurations(controller)}
    assert SearchConfig.from_json(stored[CONFIG_NAME]).total_max_jobs == 5
    assert "hpo" in store.tasks.get_script(controller).script_text  # run as `hpo resume`
    again = web.post(f"/searches/{controller}/resume", data={"csrf": csrf(web), "queue": queue})
    assert again.status_code == 409 and "already queued" in error_message(again.text)

    page = web.get(f"/searches/{controller}")
    assert page.status_code == 200
    assert 'data-action="stop"' in page.text and 'data-live="yes"' in page.text
    assert "No trial yet." in page.text and 'id="board-note"' in page.text
    assert web.get(f"/searches/{controller}/importance").json() == {
        "objective": "loss/validation", "method": "fANOVA", "complete": 0, "n_trials": 0,
        "minimum": 15, "reliable": False, "importance": [],
        "note": "needs at least 3 complete trials (0 so far)"}
    # what the Stop button sends (as `tunehouse hpo stop`)
    stop = web.post(f"/api/v1/tasks/{controller}/abort", json={"reason": "stopped by request"},
                    headers={CSRF_HEADER: csrf(web), "Accept": "application/json"})
    assert stop.status_code == 200, stop.text
    task = store.tasks.get_task(controller)
    assert task.status is TaskStatus.aborted and task.status_reason == "stopped by request"


# ------------------------------------------------------------------ start a search
@pytest.fixture(scope="module")
def base_task(store: Store) -> str:
    task = seed_task(store, f"ui-start/{uuid.uuid4().hex[:8]}", "base",
                     {"learning_rate": "0.001", "batch": "32"}, [0.9, 0.6])
    return task


def _form(web: httpx.Client, **fields: str) -> dict[str, str]:
    data = {"csrf": csrf(web), "space": "learning_rate: uniform(0.0001, 0.01)",
            "objective": json.dumps(["loss", "validation"]), "sign": "min",
            "strategy": "tpe", "early_stopping": "", "max_trials": "6", "concurrency": "2",
            "queue": "default", "controller_queue": "services"}
    data.update(fields)
    return data


def test_start_form_offers_the_base_tasks_metrics(web: httpx.Client, base_task: str) -> None:
    page = web.get(f"/tasks/{base_task}/search")
    assert page.status_code == 200
    assert "loss/validation" in page.text and 'name="csrf"' in page.text
    assert re.search(r'<option value="min" selected>', page.text)  # a loss: minimised
    for strategy in ("grid", "random", "tpe", "bohb"):
        assert re.search(rf"<option ?(selected)?>{strategy}</option>", page.text)


def _keras_like_task(store: Store) -> str:
    """A task with the metrics the Keras integration records (train and validation)."""
    task = store.tasks.create_task(TaskCreate(project=f"ui-start/{uuid.uuid4().hex[:8]}",
                                              name="keras"))
    store.tasks.set_parameters(task.id, [Parameter(section="Args", name="lr", value="0.01")])
    now = time.time()
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id, scalars=[
        ScalarEvent(title, series, 0, 0.5, now)
        for title, series in (("accuracy", "train"), ("loss", "train"),
                              ("loss", "validation"), ("accuracy", "validation"),
                              ("speed", "epoch_seconds"))]))
    return task.id


@pytest.mark.browser
def test_start_form_proposes_the_validation_metric(page, shared_server: ServerProcess,  # type: ignore[no-untyped-def]
                                                   store: Store, shot) -> None:
    """A base task with train and validation metrics: the form proposes to maximise
    accuracy/validation (not accuracy/train, not a loss); choosing a loss minimises."""
    task = _keras_like_task(store)
    page.goto(f"{shared_server.url}/tasks/{task}/search")
    chosen = page.locator("#objective option:checked").inner_text()
    assert chosen == "accuracy/validation" and page.input_value("#sign") == "max"
    assert "speed/epoch_seconds" not in page.inner_text("#objective")
    shot(page, "search-start-validation-objective")
    page.select_option("#objective", label="loss/validation")
    assert page.input_value("#sign") == "min"


def test_the_form_proposes_a_validation_loss_when_it_has_no_quality(store: Store) -> None:
    from tunehouse.server.ui.views.search_start import default_form

    summaries = [m for m in store.events.get_metric_summaries(_keras_like_task(store))
                 if m.title != "accuracy"]
    form = default_form(summaries)
    assert json.loads(form.objective) == ["loss", "validation"] and form.sign == "min"
    train_only = [m for m in summaries if m.series == "train"]
    form = default_form(train_only)
    assert json.loads(form.objective) == ["loss", "train"] and form.sign == "min"


@pytest.mark.parametrize("space", ["learning_rate: uniform(0.01, 0.001)",
                                   "learning_rate uniform(0.1)",
                                   "momentum: uniform(0.1, 0.9)"])
def test_start_form_shows_the_clis_message(web: httpx.Client, store: Store, base_task: str,
                                           space: str) -> None:
    from tunehouse.hpo.optimizer import HyperParameterOptimizer
    from tunehouse.hpo.space import parse_space

    with pytest.raises(InvalidInput) as refused:  # what `tunehouse hpo start` says
        HyperParameterOptimizer(base_task, parse_space(space), "loss", "validation", "min",
                                execution_queue="default", store=store)
    page = web.post(f"/tasks/{base_task}/search", data=_form(web, space=space))
    assert page.status_code == 422
    assert error_message(page.text) == str(escape(refused.value.message))
    assert str(escape(space)) in page.text  # the form keeps what was typed


def test_start_form_refuses_a_bad_option(web: httpx.Client, base_task: str) -> None:
    page = web.post(f"/tasks/{base_task}/search", data=_form(web, max_trials="0"))
    assert page.status_code == 422
    assert error_message(page.text) == "total_max_jobs must be a whole number of at least 1, not 0"


def test_start_form_enqueues_the_controller(web: httpx.Client, store: Store,
                                            base_task: str) -> None:
    tag = uuid.uuid4().hex[:8]
    services, trials = f"svc-{tag}", f"trials-{tag}"
    answer = web.post(f"/tasks/{base_task}/search",
                      data=_form(web, queue=trials, controller_queue=services,
                                 name=f"search {tag}", seed="7"))
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/searches/")
    controller = store.tasks.get_task(location.rsplit("/", 1)[1])
    assert controller.type is TaskType.optimizer and controller.name == f"search {tag}"
    assert controller.status is TaskStatus.queued and controller.queue == services
    stored = {c.name: c.text for c in store.tasks.get_configurations(controller.id)}
    config = SearchConfig.from_json(stored[CONFIG_NAME])
    assert config.execution_queue == trials and config.total_max_jobs == 6
    assert config.strategy == "tpe" and config.seed == 7
    assert [o.label for o in config.objectives] == ["loss/validation"]
    assert config.space.task_keys() == ["General/learning_rate"]
    assert web.get(location).status_code == 200
    store.tasks.request_abort(controller.id, "test over")


def test_start_form_without_the_csrf_token_is_refused(web: httpx.Client, store: Store,
                                                      base_task: str) -> None:
    tag = uuid.uuid4().hex[:8]
    data = _form(web, controller_queue=f"svc-{tag}")
    del data["csrf"]
    page = web.post(f"/tasks/{base_task}/search", data=data)
    assert page.status_code == 403
    assert "CSRF" in error_message(page.text)
    assert not [q for q in store.queues.list_queues() if q.name == f"svc-{tag}"]


def test_pages_need_a_session(shared_server: ServerProcess, base_task: str) -> None:
    with httpx.Client(base_url=shared_server.url, headers={"Accept": "text/html"}) as client:
        for path in (f"/tasks/{base_task}/search", f"/searches/{base_task}",
                     f"/compare?ids={base_task},{base_task}"):
            page = client.get(path)
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
        post = client.post(f"/tasks/{base_task}/search", data={"space": "x: uniform(0, 1)"})
        assert post.status_code == 303 and post.headers["location"].startswith("/login")


# ------------------------------------------------------------------ in a browser
@pytest.mark.browser
def test_the_pages_draw_in_a_browser(page, shared_server: ServerProcess,  # type: ignore[no-untyped-def]
                                     store: Store, finished_search: str, base_task: str,
                                     shot) -> None:
    """The scripts run under the pages' CSP without errors (the ``page`` fixture fails
    on any): the parallel coordinates are SVG, never Plotly's WebGL ``parcoords``."""
    project = f"ui-compare/{uuid.uuid4().hex[:8]}"
    ids = [seed_task(store, project, f"run {i}", {"lr": str(lr), "batch": "32"},
                     [1.0, 0.5 + lr]) for i, lr in enumerate((0.1, 0.2, 0.3))]
    page.goto(f"{shared_server.url}/compare?ids={','.join(ids)}")
    page.wait_for_selector("#charts .chart svg.main-svg")
    page.click("nav.tabs a[data-tab=parallel]")
    page.wait_for_selector("#parcoords[data-dimensions='2'][data-lines='3']")
    assert "WebGL" not in page.inner_text("#parcoords")
    shot(page, "compare-parallel-coordinates")
    page.click("nav.tabs a[data-tab=scatter]")
    page.wait_for_selector("#scatter-plot[data-points='3']")
    page.click("nav.tabs a[data-tab=parameters]")
    page.check("#only-diff")
    assert page.locator("#param-table tbody tr:visible").count() == 1

    page.goto(f"{shared_server.url}/searches/{finished_search}")
    page.wait_for_selector("#importance-table[data-n-trials='3'][data-reliable='no']",
                           timeout=60_000)
    assert "unreliable" in page.inner_text("#importance-basis")
    page.wait_for_selector("#search-parcoords[data-lines='3']")
    page.wait_for_selector("#search-timeline[data-bars='4'] svg.timeline")
    assert page.locator("#search-timeline rect.tl-completed").count() == 3
    assert page.locator("#search-timeline rect.tl-failed").count() == 1
    page.wait_for_selector("#best-chart[data-points='3'] svg.main-svg")
    assert "WebGL" not in page.inner_text("#search-parcoords")
    shot(page, "search-dashboard")
    page.select_option("#best-x", "time")
    page.wait_for_selector("#best-chart .xtitle:has-text('minutes since')")
    page.click("#trials-table")
    page.wait_for_selector("#parent-filter")
    assert page.locator("#tasks tbody tr[data-id]").count() == 4
    shot(page, "search-trials-table")
    page.goto(f"{shared_server.url}/tasks/{base_task}/search")
    page.fill("#custom-objective", "loss/train")
    assert page.is_disabled("#objective")
    shot(page, "search-start-form")
