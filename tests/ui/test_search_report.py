"""The command line and the search page read one report of a search: for the same
search, ``tunehouse hpo show`` (run in this process against the shared server) and the
page's importance (fetched over HTTP as a signed-in user) give the same figures, on the
same number of trials, with the same unreliable marker; before the controller wrote its
leaderboard (read from the children) and after. And the pages that refresh their live
part go to the sign-in page when the session ended."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.server import ServerProcess
from tests.helpers.web import sign_in
from tests.hpo.helpers import Seeded, seed_search, write_leaderboard
from tests.hpo.test_report import SPACE, example_trials
from tests.ui.conftest import PageWatch
from tunehouse.cli.main import main
from tunehouse.store.base import Store

IMPORTANCE_LINE = re.compile(r"^  (\S+)\s+(\d\.\d{3})$")


@pytest.fixture(scope="module")
def web(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    client = sign_in(shared_server, headers={"Accept": "application/json"})
    yield client
    client.close()


def cli_show(search: str, server: ServerProcess, home: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[list[object]]]:
    """``tunehouse hpo show SEARCH`` in this process: its output and its importance as
    ``[[name, value], ...]`` (the three decimals it prints)."""
    for name, value in server.client_env(home=home).items():
        if name.startswith("TUNEHOUSE_"):
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["hpo", "show", search]) == 0
    out = capsys.readouterr().out
    pairs = [[m.group(1), float(m.group(2))]
             for m in map(IMPORTANCE_LINE.match, out.splitlines()) if m]
    return out, pairs


def page_importance(web: httpx.Client, search: str) -> dict:
    answer = web.get(f"/searches/{search}/importance")
    assert answer.status_code == 200, answer.text
    data: dict = answer.json()
    data["rounded"] = [[name, round(value, 3)] for name, value in data["importance"]]
    return data


@pytest.mark.parametrize("count", [16, 8])
def test_the_cli_and_the_search_page_give_the_same_importance(
        count: int, shared_server: ServerProcess, store: Store, web: httpx.Client,
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    trials = [*example_trials(count), Seeded({"Args/lr": "0.005", "Args/dropout": "0.2",
                                              "Args/batch": "32"}, None, "failed"),
              Seeded({"Args/lr": "0.006", "Args/dropout": "0.3", "Args/batch": "16"}, 0.5,
                     "pruned")]
    search = seed_search(store, SPACE, trials, project=f"ui-report/{uuid.uuid4().hex[:8]}")
    for stage in ("children", "leaderboard"):
        if stage == "leaderboard":
            write_leaderboard(store, search)
        out, printed = cli_show(search, shared_server, tmp_path, capsys, monkeypatch)
        shown = page_importance(web, search)
        assert shown["n_trials"] == count and shown["complete"] == count, stage
        assert len(printed) == 3 and printed == shown["rounded"], (stage, out)
        assert f"importance for objective/value (fANOVA over {count} complete trials)" in out
        assert shown["reliable"] is (count >= 15)
        assert ("UNRELIABLE" in out) is (count < 15)
        assert ("no leaderboard yet" in out) is (stage == "children")
        assert f"trials: {count + 2} done of {count + 2}" in out


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["queues", "search"])
def test_an_ended_session_takes_a_live_page_to_sign_in(
        kind: str, page, shared_server: ServerProcess, store: Store,  # type: ignore[no-untyped-def]
        watch: PageWatch) -> None:
    """Both pages that refresh their live part (the shared ``TH.live``) go to the sign-in
    page, which comes back to them, once the session is gone."""
    if kind == "search":
        search = seed_search(store, SPACE, example_trials(3), ended=False,
                             project=f"ui-report/{uuid.uuid4().hex[:8]}")
        store.queues.enqueue(search, f"svc-{uuid.uuid4().hex[:8]}")  # queued: data-live
        path = f"/searches/{search}"
    else:
        path = "/queues"
    page.goto(f"{shared_server.url}{path}")
    live = page.wait_for_selector(f"#{kind}-live")
    assert live is not None
    page.context.clear_cookies()
    page.wait_for_url(f"{shared_server.url}/login?next={quote(path, safe='')}", timeout=20_000)
    # the search page's charts asked the JSON API too: 401, the expected answer here
    watch.errors[:] = [e for e in watch.errors if not e.startswith("401 GET ")]
