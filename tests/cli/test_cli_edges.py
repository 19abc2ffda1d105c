"""The command line's rough edges, found by a newcomer: ``tasks show --diff|--packages|
--console``, an unreachable or oddly written server URL, short id prefixes, naming a model
version, ``sync --data-dir``, ``users enable --help``.

Commands run as real subprocesses (see :func:`tests.cli.test_cli.cli`) against an embedded
SQLite database or the session's server; records on the shared server have unique names.
"""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import cli
from tests.helpers.databases import embedded_store
from tests.helpers.server import ServerProcess, clean_env, free_port
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.settings import Settings, normalize_server_url, write_credentials
from tunehouse.store.base import Store
from tunehouse.store.records import (
    Environment,
    EventBatch,
    LogEvent,
    ModelCreate,
    Script,
    TaskCreate,
    TaskStatus,
)

DIFF = ("diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
        "@@ -1,2 +1,2 @@\n-lr = 0.1\n+lr = 0.01\n epochs = 3\n")


@dataclass
class Target:
    """Where the CLI runs against: ``kw`` for :func:`cli`, ``store`` to seed and check."""

    store: Store
    kw: dict[str, Any]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return cli(*args, ok=ok, **self.kw)


def _embedded_store(home: Path) -> Store:
    return embedded_store(home)  # type: ignore[no-any-return]


@pytest.fixture
def embedded(home: Path) -> Iterator[Target]:
    store = _embedded_store(home)
    try:
        yield Target(store, {"home": home})
    finally:
        store.close()


@pytest.fixture(params=["embedded", "server"])
def target(request: pytest.FixtureRequest, home: Path, tmp_path: Path) -> Iterator[Target]:
    if request.param == "embedded":
        yield request.getfixturevalue("embedded")
        return
    server: ServerProcess = request.getfixturevalue("shared_server")
    store = server.store()
    try:
        yield Target(store, {"env": server.client_env(home=tmp_path / "client")})
    finally:
        store.close()


def _write_lines(store: Store, task_id: str, texts: list[str]) -> None:
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task_id,
                                       logs=[LogEvent("stdout", text, time.time())
                                             for text in texts]))


def _recorded_task(store: Store) -> str:
    task = store.tasks.create_task(TaskCreate(project=f"edges/{uuid.uuid4().hex[:8]}",
                                              name="recorded"))
    store.tasks.set_script(task.id, Script(repository="https://example.org/r.git",
                                           entry_point="train.py", diff=DIFF,
                                           untracked_files=["notes.txt", "data/new.csv"]))
    store.tasks.set_environment(task.id, Environment(
        python="3.12.1", hostname="box", packages=["numpy==1.26.0", "rich==13.7.1"]))
    _write_lines(store, task.id, ["epoch 1 loss 0.5", "epoch 2 loss 0.25"])
    return task.id


# ------------------------------------------------------------------ 1. tasks show --diff ...
def test_tasks_show_prints_the_recorded_diff_packages_and_console(target: Target) -> None:
    task_id = _recorded_task(target.store)

    diff = target.run("tasks", "show", task_id, "--diff")
    assert diff.stdout == DIFF + ("# untracked files (not in the diff): 2\n"
                                  "#   notes.txt\n#   data/new.csv\n")
    assert "\x1b[" not in diff.stdout  # plain text in a pipe
    assert target.run("tasks", "show", task_id[:12], "--packages").stdout.splitlines() == [
        "# python 3.12.1", "numpy==1.26.0", "rich==13.7.1"]
    assert target.run("tasks", "show", task_id, "--console").stdout.splitlines() == [
        "epoch 1 loss 0.5", "epoch 2 loss 0.25"]

    combined = target.run("tasks", "show", task_id, "--console", "--diff",
                          "--packages").stdout
    heads = [combined.index(f"==> {name} <==") for name in ("diff", "packages", "console")]
    assert heads == sorted(heads) and "+lr = 0.01" in combined and "rich==13.7.1" in combined

    summary = target.run("tasks", "show", task_id).stdout  # without flags: as before
    assert "recorded" in summary and "7 lines (see --diff)" in summary
    assert "2 (see --packages)" in summary and "==>" not in summary


def test_tasks_show_flags_on_a_task_that_recorded_nothing(embedded: Target) -> None:
    task_id = embedded.store.tasks.create_task(TaskCreate(project="edges", name="bare")).id
    for flag, note in (("--diff", "recorded no uncommitted changes"),
                       ("--packages", "recorded no environment"),
                       ("--console", "logged no console output")):
        result = embedded.run("tasks", "show", task_id, flag)
        assert result.stdout == "" and note in result.stderr


def test_tasks_show_diff_is_coloured_on_a_terminal(embedded: Target, home: Path) -> None:
    task_id = _recorded_task(embedded.store)
    env = {k: v for k, v in clean_env(TERM="xterm-256color", COLUMNS="120").items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tunehouse", "tasks", "show", task_id,
                                 "--diff", "--data-dir", str(home)],
                                stdout=follower, stderr=subprocess.PIPE, env=env)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    shown = b"".join(chunks).decode()
    assert "\x1b[" in shown and "lr = 0.01" in shown and "notes.txt" in shown


def test_console_is_read_page_by_page(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunehouse.cli import task_details

    monkeypatch.setattr(task_details, "LOG_PAGE", 3)
    store = _embedded_store(home)
    try:
        task = store.tasks.create_task(TaskCreate(project="edges", name="chatty"))
        texts = [f"line {i}" for i in range(7)]
        _write_lines(store, task.id, texts)
        out = io.StringIO()
        task_details.print_sections(store, task, ["console"], out=out)
    finally:
        store.close()
    assert out.getvalue().splitlines() == texts


# ------------------------------------------------------------------ 2. unreachable server
def test_an_unreachable_server_is_named_before_the_missing_key(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = clean_env(TUNEHOUSE_SERVER=url, TUNEHOUSE_HOME=str(tmp_path / "client"))
    result = cli("tasks", "list", env=env, ok=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (f"cannot reach the tunehouse server at {url}: connection refused "
            "(check TUNEHOUSE_SERVER)") in result.stderr
    assert "API key" not in result.stderr
    flag = cli("projects", "list", "--server", url, env=clean_env(
        TUNEHOUSE_HOME=str(tmp_path / "client")), ok=False)
    assert flag.returncode != 0 and "(check --server)" in flag.stderr


def test_a_server_that_is_not_tunehouse_is_named(tmp_path: Path) -> None:
    class NotFoundHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), NotFoundHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        env = clean_env(TUNEHOUSE_SERVER=f"127.0.0.1:{httpd.server_port}",
                        TUNEHOUSE_HOME=str(tmp_path / "client"))
        result = cli("tasks", "list", env=env, ok=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not as a tunehouse server" in result.stderr and "HTTP 404" in result.stderr


def test_a_reachable_server_without_a_key_still_asks_for_one(
        shared_server: ServerProcess, tmp_path: Path) -> None:
    env = clean_env(TUNEHOUSE_SERVER=shared_server.url, TUNEHOUSE_HOME=str(tmp_path / "c"))
    result = cli("projects", "list", env=env, ok=False)
    assert result.returncode == 2 and "TUNEHOUSE_ACCESS_KEY" in result.stderr


# ------------------------------------------------------------------ 3. server URL forms
@pytest.mark.parametrize(("given", "expected"), [
    ("localhost:8080", "http://localhost:8080"),
    ("127.0.0.1:8420/", "http://127.0.0.1:8420"),
    ("http://host:8420/api/v1", "http://host:8420"),
    ("http://host:8420/api/v1/", "http://host:8420"),
    ("host:8420/api/v1//", "http://host:8420"),
    ("  https://example.org/tunehouse/api/v1/ ", "https://example.org/tunehouse"),
    ("HTTPS://example.org", "https://example.org"),
    ("http://host:8420", "http://host:8420"),
])
def test_server_urls_are_normalized(given: str, expected: str) -> None:
    assert normalize_server_url(given) == expected
    assert normalize_server_url(expected) == expected


@pytest.mark.parametrize("bad", ["ftp://host", "http://", "/api/v1", "http:///api/v1"])
def test_server_urls_that_name_no_http_server_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="TUNEHOUSE_SERVER"):
        normalize_server_url(bad)


def test_settings_and_client_use_the_normalized_url(tmp_path: Path) -> None:
    from tunehouse.client.http import HttpStore

    write_credentials(tmp_path, {"server": "http://127.0.0.1:8420", "access_key": "a",
                                 "secret_key": "s"})
    settings = Settings.from_env(env={"TUNEHOUSE_SERVER": "localhost:8420/api/v1/"},
                                 home=tmp_path)
    assert settings.server == "http://localhost:8420"
    assert (settings.access_key, settings.secret_key) == ("a", "s")  # same server
    store = HttpStore("localhost:8420/api/v1", "a", "s")
    try:
        assert store.url == "http://localhost:8420"
    finally:
        store.close()


def test_the_cli_understands_a_url_without_scheme_and_with_the_api_prefix(
        shared_server: ServerProcess, tmp_path: Path) -> None:
    project = f"edges/{uuid.uuid4().hex[:8]}"
    store = shared_server.store()
    try:
        store.tasks.create_task(TaskCreate(project=project, name="found"))
    finally:
        store.close()
    bare = shared_server.url.removeprefix("http://") + "/api/v1/"
    env = {**shared_server.client_env(home=tmp_path / "client"), "TUNEHOUSE_SERVER": bare}
    assert "found" in cli("tasks", "list", "--project", project, env=env).stdout


# ------------------------------------------------------------------ 4. id prefixes
def _shortest_unique_prefix(task_id: str, ids: list[str]) -> str:
    for length in range(1, len(task_id) + 1):
        start = task_id[:length]
        if [one for one in ids if one.startswith(start)] == [task_id]:
            return start
    raise AssertionError("ids are unique")


def test_id_prefixes_work_at_any_unique_length_with_one_message(embedded: Target) -> None:
    store = embedded.store
    ids = [store.tasks.create_task(TaskCreate(project="edges/prefix", name=f"t{i}")).id
           for i in range(24)]
    chosen = min(ids, key=lambda one: len(_shortest_unique_prefix(one, ids)))
    short = _shortest_unique_prefix(chosen, ids)
    assert len(short) <= 3  # 24 random ids: some id is told apart by 1-3 characters
    first = max({one[0] for one in ids}, key=lambda c: sum(one[0] == c for one in ids))
    shared = sorted(one for one in ids if one.startswith(first))
    assert len(shared) >= 2  # 24 ids, 16 first characters
    ambiguous = (f"{first!r} matches {len(shared)} tasks: {', '.join(shared[:5])}"
                 + (", ..." if len(shared) > 5 else "") + ", use more characters")

    assert chosen in embedded.run("tasks", "show", short).stdout
    for command in (["tasks", "show"], ["tasks", "log"], ["tasks", "enqueue"],
                    ["queues", "move", "--front"], ["hpo", "show"], ["hpo", "stop"]):
        missing = embedded.run(*command, "zz9", ok=False)
        assert missing.returncode == 2 and "no task matches 'zz9'" in missing.stderr, command
        several = embedded.run(*command, first, ok=False)
        assert several.returncode == 2 and ambiguous in several.stderr, command
    missing = embedded.run("models", "list", "--task", "zz9", ok=False)
    assert "no task matches 'zz9'" in missing.stderr
    assert "0 model versions" in embedded.run("models", "list", "--task", short).stdout
    assert f"task {chosen} queued" in embedded.run("tasks", "enqueue", short).stdout
    assert store.tasks.get_task(chosen).status is TaskStatus.queued


def test_pick_by_prefix_messages() -> None:
    from tunehouse.cli._ids import pick_by_prefix

    assert pick_by_prefix("model", "AB", ["abc", "bcd"]) == "abc"
    with pytest.raises(NotFound, match="^no model matches 'x'$"):
        pick_by_prefix("model", "x", ["abc"])
    with pytest.raises(InvalidInput, match="^'a' matches 2 models: ab, ac, use more characters$"):
        pick_by_prefix("model", "a", ["ac", "ab"])
    with pytest.raises(InvalidInput, match="give a model id"):
        pick_by_prefix("model", " ", ["ab"])


# ------------------------------------------------------------------ 5. model versions
def _three_versions(store: Store, name: str) -> list[str]:
    ids = []
    for number in (1, 2, 3):
        blob = store.artifacts.put_blob(io.BytesIO(f"weights {number}".encode()))
        ids.append(store.models.create_model(ModelCreate(
            name=name, sha256=blob.sha256, size=blob.size, project="edges/models",
            metadata={"filename": "weights.bin"})).id)
    return ids


def test_one_way_to_name_a_model_version(embedded: Target, tmp_path: Path) -> None:
    ids = _three_versions(embedded.store, "clf")
    run = embedded.run
    for ref in (["clf:2"], ["clf", "--version", "2"], [ids[1]], [ids[1][:10]]):
        assert f"{ids[1]}" in run("models", "show", *ref).stdout, ref
    assert ids[2] in run("models", "show", "clf").stdout  # the latest

    assert "production -> version 3" in run("models", "promote", "clf:3").stdout
    assert "(was version 3)" in run("models", "promote", "clf", "--version", "2").stdout
    assert "production -> version 3" in run("models", "promote", "clf", "3").stdout
    assert "rolled back to version 1 (was version 3)" in run(
        "models", "rollback", "clf:1").stdout
    assert "production -> version 3" in run("models", "promote", ids[2][:12]).stdout
    assert "rolled back to version 2" in run("models", "rollback", "clf", "--to", "2").stdout

    for number in (1, 3):
        path = Path(run("models", "download", f"clf:{number}", "--dest",
                        str(tmp_path / f"v{number}")).stdout.strip())
        assert path.read_bytes() == f"weights {number}".encode()
    staged = Path(run("models", "download", "clf", "--stage", "production").stdout.strip())
    assert staged.read_bytes() == b"weights 2"
    assert "version 1 published" in run("models", "publish", "clf:1").stdout


def test_model_version_errors_name_the_versions(embedded: Target) -> None:
    _three_versions(embedded.store, "clf")
    embedded.run("models", "promote", "clf:3")
    no_such = "model clf has no version 9; versions: 1, 2, 3"
    for args in (["rollback", "clf", "--to", "9"], ["rollback", "clf:9"],
                 ["promote", "clf:9"], ["show", "clf:9"], ["download", "clf", "--version", "9"],
                 ["publish", "clf", "9"]):
        result = embedded.run("models", *args, ok=False)
        assert result.returncode == 2 and no_such in result.stderr, args
        assert "Traceback" not in result.stderr
    unnamed = embedded.run("models", "rollback", "clf", ok=False)
    assert unnamed.returncode == 2 and "clf:VERSION" in unnamed.stderr
    twice = embedded.run("models", "promote", "clf:2", "--version", "3", ok=False)
    assert twice.returncode == 2 and "two different versions" in twice.stderr
    both = embedded.run("models", "download", "clf:2", "--stage", "production", ok=False)
    assert both.returncode == 2 and "not both" in both.stderr
    nothing = embedded.run("models", "show", "nosuch", ok=False)
    assert nothing.returncode == 2 and "no model matches 'nosuch'" in nothing.stderr
    absent = embedded.run("models", "rollback", "nosuch:1", ok=False)
    assert absent.returncode == 2 and "no model named 'nosuch'" in absent.stderr


@pytest.mark.parametrize("command", ["show", "promote", "rollback", "download", "publish",
                                     "list"])
def test_every_models_argument_has_help(command: str) -> None:
    import argparse

    from tunehouse.cli.main import build_parser

    def child(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        commands = next(action for action in parser._actions
                        if isinstance(action, argparse._SubParsersAction))
        return commands.choices[name]

    sub = child(child(build_parser(), "models"), command)
    for action in sub._actions:
        assert action.help, f"models {command}: {action.dest} has no help"


# ------------------------------------------------------------------ 6. and 7.
def test_sync_takes_data_dir(home: Path) -> None:
    out = cli("sync", home=home).stdout
    assert "sent 0 batch(es)" in out
    assert "--data-dir" in cli("sync", "--help").stdout


def test_users_enable_has_its_own_help() -> None:
    enable = cli("users", "enable", "--help").stdout
    disable = cli("users", "disable", "--help").stdout
    assert "Enable a user" in enable and "the user to enable" in enable
    assert "Disable a user" in disable and enable != disable
    groups = cli("users", "--help").stdout
    assert "enable a disabled user again" in groups
