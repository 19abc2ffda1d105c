"""The experiment table remembers the columns and sort a user chose for a project (the
preference ``table:<project id>``), in headless Chromium: back on the plain address
they are there again; another user keeps their own default view; a bad stored view is
refused with 422 naming the problem."""

from __future__ import annotations

import json
import re
from contextlib import closing

import pytest

from tests.helpers.server import ServerProcess
from tests.helpers.web import csrf_header, sign_in
from tests.ui.test_ops_pages import new_user
from tests.ui.test_pickers import seed_project
from tunehouse.store.base import Store

API = "/api/v1"


def headers(html: str) -> list[str]:
    """The column specs of the table's headers."""
    return re.findall(r'<th class="n"><a href="[^"]*" title="([^"]+)"', html)


@pytest.mark.browser
def test_the_table_remembers_columns_and_sort_per_user(  # type: ignore[no-untyped-def]
        page, shared_server: ServerProcess, store: Store, shot) -> None:
    project = seed_project(store)
    plain = f"{shared_server.url}/projects/{project}/tasks"
    page.goto(plain)
    page.click("details.chooser summary")
    page.select_option("#column-chooser select.picker-what", "param:General/lr")
    page.click("#column-chooser button[type=submit]")
    page.wait_for_selector("#tasks th a[title='param:General/lr']")
    page.click("#tasks th a[title='param:General/lr']")  # sort by it (descending first)
    page.wait_for_url("**order=param*")
    page.wait_for_function("document.getElementById('table-view').dataset.remember === 'yes'")
    page.wait_for_timeout(1000)  # table.js keeps the view (PUT /preferences/table:<id>)
    stored = page.evaluate(f"""fetch('{API}/preferences/table:{project}').then(r => r.json())""")
    assert stored["value"] == {"col": ["param:General/lr"], "order": "param:General/lr",
                               "asc": False}

    page.goto(plain)  # no col, no order: the view chosen last
    page.wait_for_selector("#tasks th a[title='param:General/lr']")
    names = page.locator("#tasks tbody tr[data-id] td:nth-child(2) a").all_inner_texts()
    assert names == ["run 2", "run 1", "run 0"]  # lr 0.3, 0.2, 0.1
    assert "▼" in page.inner_text("#tasks th a[title='param:General/lr']")
    assert page.get_attribute("#table-view", "data-remember") == "no"
    shot(page, "table-remembered-view")

    # clearing the columns is a choice too: remembered as no column
    page.click("details.chooser summary")
    page.uncheck("#column-chooser input[type=checkbox][value='param:General/lr']")
    page.click("#column-chooser button[type=submit]")
    page.wait_for_function("document.getElementById('table-view').dataset.remember === 'yes'")
    page.wait_for_timeout(1000)
    page.goto(plain)
    assert page.locator("#tasks th a[title]").count() == 0

    other, password = new_user(store, shared_server)
    with closing(sign_in(shared_server, other, password,
                         headers={"Accept": "text/html"})) as theirs:
        html = theirs.get(f"/projects/{project}/tasks").text
        assert headers(html) == []
        view = re.search(r'id="table-view"[^>]*>(.*?)</script>', html, re.S)
        assert view is not None and json.loads(view.group(1))["order"] == "created"


def test_a_bad_table_view_is_refused(shared_server: ServerProcess, store: Store) -> None:
    project = seed_project(store)
    with closing(sign_in(shared_server)) as web:
        answer = web.put(f"{API}/preferences/table:{project}",
                         json={"value": {"col": ["lr"], "order": "created"}},
                         headers=csrf_header(web))
        assert answer.status_code == 422
        assert "value.col: invalid column 'lr'" in answer.text, answer.text
