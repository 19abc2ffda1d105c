"""The command line: commands run in-process through ``main(argv)``
(:func:`tests.helpers.cli.run_cli`), and the installed ``tunehouse`` command run as a
user would (:func:`test_the_installed_command_runs_as_a_user_would`)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, run_cli
from tests.helpers.databases import embedded_store
from tests.helpers.server import ServerProcess, clean_env, running_server
from tunehouse.store.records import (
    EventBatch,
    Parameter,
    ScalarEvent,
    Script,
    TaskCreate,
)


def cli(*args: str, home: Path | None = None, stdin: str = "", env: dict[str, str] | None = None,
        ok: bool = True) -> CliResult:
    """``tunehouse ARGS [--data-dir HOME]`` in-process; fails unless it exits 0 (``ok``)."""
    if home is not None:
        args = (*args, "--data-dir", str(home))
    return run_cli(*args, env=env or clean_env(), stdin=stdin, ok=ok)


def test_the_installed_command_runs_as_a_user_would(home: Path) -> None:
    """The console script and ``python -m tunehouse`` start, answer and fail cleanly."""
    installed = Path(sys.executable).with_name("tunehouse")
    version = subprocess.run([str(installed), "--version"], capture_output=True, text=True,
                             timeout=120, env=clean_env())
    assert version.returncode == 0 and version.stdout.startswith("tunehouse ")
    added = subprocess.run([str(installed), "users", "add", "dora", "--password-stdin",
                            "--data-dir", str(home)], input="pw-dora\n", capture_output=True,
                           text=True, timeout=120, env=clean_env())
    assert added.returncode == 0 and "created user dora" in added.stdout, added.stderr
    missing = subprocess.run([sys.executable, "-m", "tunehouse", "tasks", "show", "ffffffff",
                              "--data-dir", str(home)], capture_output=True, text=True,
                             timeout=120, env=clean_env())
    assert missing.returncode == 2 and "no task" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_users_add_list_disable_enable(home: Path) -> None:
    added = cli("users", "add", "alice", "--admin", "--password-stdin", home=home,
                stdin="correct horse\n")
    assert "created admin alice" in added.stdout and "correct horse" not in added.stdout
    generated = cli("users", "add", "bob", home=home)
    assert "password:" in generated.stdout
    password = generated.stdout.split("password:")[1].split()[0]
    assert len(password) >= 16

    listing = cli("users", "list", home=home).stdout
    assert "alice" in listing and "bob" in listing and "yes" in listing

    assert "bob is disabled" in cli("users", "disable", "bob", home=home).stdout
    assert "bob is enabled" in cli("users", "enable", "bob", home=home).stdout

    duplicate = cli("users", "add", "bob", home=home, ok=False)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    missing = cli("users", "disable", "nobody", home=home, ok=False)
    assert missing.returncode == 2 and "nobody" in missing.stderr

    from tunehouse.server.accounts import open_accounts
    from tunehouse.settings import Settings
    from tunehouse.store.sql import SqlStore

    with SqlStore.from_settings(Settings.from_env(env={}, home=home)) as store:
        users = open_accounts(store).users
        assert users.verify_password("alice", "correct horse").admin is True
        assert users.verify_password("bob", password).name == "bob"


def test_keys_create_list_revoke(home: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'other.db'}"
    cli("users", "add", "carol", "--password-stdin", "--db", db, home=home, stdin="pw-carol\n")
    created = cli("keys", "create", "--user", "carol", "--description", "laptop", "--db", db,
                  home=home).stdout
    access = created.split("access key:")[1].split()[0]
    secret = created.split("secret key:")[1].split()[0]
    listing = cli("keys", "list", "--db", db, home=home).stdout
    assert access in listing and "laptop" in listing and secret not in listing
    assert "revoked" in cli("keys", "revoke", access, "--db", db, home=home).stdout
    assert not (home / "tunehouse.db").exists()  # --db was used, not the data dir's database

    from tunehouse.server.accounts import open_accounts
    from tunehouse.store.sql import SqlStore

    with SqlStore(db, tmp_path / "artifacts") as store:
        [key] = open_accounts(store).keys.list_api_keys("carol")
        assert key.revoked


def test_db_upgrade_and_current(tmp_path: Path, home: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgraded = cli("db", "upgrade", "--db", db, home=home).stdout
    assert "schema revision" in upgraded
    current = cli("db", "current", "--db", db, home=home).stdout
    assert "up to date" in current
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    stale = cli("db", "current", "--db", empty, home=home, ok=False)
    assert stale.returncode == 1 and "tunehouse db upgrade" in stale.stdout
    bad = cli("db", "upgrade", "--db", "mysql://nope", home=home, ok=False)
    assert bad.returncode == 2 and "unsupported database URL" in bad.stderr


def _seed(store) -> str:  # type: ignore[no-untyped-def]
    task = store.tasks.create_task(TaskCreate(project="cli/demo", name="train mnist", tags=["a"]))
    store.tasks.create_task(TaskCreate(project="cli/other", name="second"))
    store.tasks.set_parameters(task.id, [Parameter(section="Args", name="lr", value="0.01",
                                             type="float"),
                                   Parameter(section="General", name="epochs", value="3",
                                             type="int")])
    store.events.add_events(EventBatch(batch_id="cli-batch-1", task_id=task.id,
                                scalars=[ScalarEvent("loss", "train", i, 1.0 / (i + 1), 1.0)
                                         for i in range(5)]))
    store.tasks.set_script(task.id, Script(repository="https://example.org/repo.git", branch="main",
                                     commit="0123456789abcdef", entry_point="train.py",
                                     diff="+a\n+b\n"))
    return str(task.id)


def _check_listing_and_show(task_id: str, **kw) -> None:  # type: ignore[no-untyped-def]
    projects = cli("projects", "list", **kw).stdout
    assert "cli/demo" in projects and "cli/other" in projects
    tasks = cli("tasks", "list", "--project", "cli/demo", **kw).stdout
    assert task_id in tasks and "second" not in tasks and "1 of 1 tasks" in tasks
    assert "0 of 0" in cli("tasks", "list", "--status", "completed", **kw).stdout
    shown = cli("tasks", "show", task_id[:10], **kw).stdout
    for expected in ("train mnist", "parameters: Args", "parameters: General", "lr", "0.01",
                     "loss", "train.py", "2 lines", "https://example.org/repo.git"):
        assert expected in shown, expected
    missing = cli("tasks", "show", "ffffffffffff", ok=False, **kw)
    assert missing.returncode == 2 and "no task" in missing.stderr


def test_projects_and_tasks_on_the_embedded_database(home: Path) -> None:
    store = embedded_store(home)
    try:
        task_id = _seed(store)
    finally:
        store.close()
    _check_listing_and_show(task_id, home=home)


def test_projects_and_tasks_through_a_server(tmp_path: Path) -> None:
    with running_server(tmp_path / "server-home") as server:
        store = server.store()
        try:
            task_id = _seed(store)
        finally:
            store.close()
        env = server.client_env()
        _check_listing_and_show(task_id, env=env)
        no_key = clean_env(TUNEHOUSE_SERVER=server.url,
                           TUNEHOUSE_HOME=str(tmp_path / "elsewhere"))
        result = cli("projects", "list", env=no_key, ok=False)
        assert result.returncode == 2 and "TUNEHOUSE_ACCESS_KEY" in result.stderr
        # on the server machine the credentials file is found through TUNEHOUSE_HOME
        local = clean_env(TUNEHOUSE_SERVER=server.url, TUNEHOUSE_HOME=str(server.home))
        assert "cli/demo" in cli("projects", "list", env=local).stdout


@pytest.mark.parametrize("args", [["tasks", "list", "--limit", "0"],
                                  ["tasks", "list", "--status", "sleeping"]])
def test_bad_arguments_are_clear_errors(home: Path, args: list[str]) -> None:
    result = cli(*args, home=home, ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_tasks_list_shows_columns_and_filters(home: Path) -> None:
    store = embedded_store(home)
    try:
        ids = {}
        for name, lr, loss in [("small", "0.0001", 0.5), ("mid", "0.005", 0.25),
                               ("big", "0.02", 0.125)]:
            ids[name] = store.tasks.create_task(TaskCreate(project="cli/cols", name=name)).id
            store.tasks.set_parameters(ids[name], [Parameter(section="General", name="lr",
                                                             value=lr, type="float")])
            store.events.add_events(EventBatch(batch_id=f"cli-cols-{name}", task_id=ids[name],
                                               scalars=[ScalarEvent("val", "loss", 0, loss, 1.0)]))
    finally:
        store.close()
    listed = cli("tasks", "list", "--project", "cli/cols", "--columns",
                 "param:General/lr,metric:val/loss", "--columns", "metric:val/loss:min",
                 "--filter", "param:General/lr >= 0.001", "--order", "param:General/lr",
                 "--asc", home=home).stdout
    assert "2 of 2 tasks" in listed
    assert "param:General/lr" in listed and "metric:val/loss:min" in listed
    lines = [line for line in listed.splitlines() if ids["mid"] in line or ids["big"] in line]
    assert len(lines) == 2 and ids["mid"] in lines[0] and ids["big"] in lines[1]
    assert "0.005" in lines[0] and "0.25" in lines[0] and "0.125" in lines[1]
    assert ids["small"] not in listed
    by_metric = cli("tasks", "list", "--project", "cli/cols", "--filter",
                    "metric:val/loss < 0.3", "--filter", "name != big", home=home).stdout
    assert "1 of 1 tasks" in by_metric and ids["mid"] in by_metric
    bad = cli("tasks", "list", "--filter", "param:General/lr >> 1", home=home, ok=False)
    assert bad.returncode == 2 and "invalid filter" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_account_commands_go_through_the_server_when_one_is_set(
        shared_server: ServerProcess, tmp_path: Path) -> None:
    """``users``, ``keys`` and ``audit`` with ``TUNEHOUSE_SERVER`` set use the server's
    account areas (in-process: the HTTP path is what is tested, not the command's
    start-up)."""
    env = shared_server.client_env(home=tmp_path / "client")

    def run(*args: str, stdin: str = "", **extra: str) -> CliResult:
        return run_cli(*args, env={**env, **extra}, stdin=stdin)

    name = f"c{uuid.uuid4().hex[:10]}"
    added = run("users", "add", name, "--password-stdin", stdin="pw-of-the-cli\n")
    assert added.returncode == 0 and f"created user {name}" in added.stdout
    assert name in run("users", "list").stdout
    assert f"{name} is disabled" in run("users", "disable", name).stdout
    assert f"{name} is enabled" in run("users", "enable", name).stdout
    created = run("keys", "create", "--user", name, "--description", "cli").stdout
    access = created.split("access key:")[1].split()[0]
    secret = created.split("secret key:")[1].split()[0]
    assert access in run("keys", "list", "--user", name).stdout
    # a user's own key manages its own keys, and nothing else
    own = run("keys", "list", TUNEHOUSE_ACCESS_KEY=access, TUNEHOUSE_SECRET_KEY=secret)
    assert own.returncode == 0 and access in own.stdout
    refused = run("users", "list", TUNEHOUSE_ACCESS_KEY=access, TUNEHOUSE_SECRET_KEY=secret)
    assert refused.returncode == 2 and "admin" in refused.stderr
    assert f"revoked {access}" in run("keys", "revoke", access).stdout
    audit = run("audit", "list", "--target", f"user:{name}").stdout
    assert "user.create" in audit and "user.disable" in audit
    missing = run("users", "unlock", f"nobody-{name}")
    assert missing.returncode == 2 and "no failed attempts" in missing.stderr
    assert not (tmp_path / "client" / "tunehouse.db").exists()  # not the embedded database
    # an explicit --db wins over TUNEHOUSE_SERVER
    db = f"sqlite:///{tmp_path / 'own.db'}"
    local = run("users", "add", f"d{name}", "--password-stdin", "--db", db, stdin="pw\n")
    assert local.returncode == 0, local.stderr
    assert f"d{name}" in run("users", "list", "--db", db).stdout
    assert f"d{name}" not in run("users", "list").stdout
