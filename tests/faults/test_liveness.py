"""No task stuck: a process killed with SIGKILL leaves its task ``in_progress`` only until
the server's watchdog sees it lost; an abort of a task nobody runs ends it (issue 8,
case 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa

from tests.helpers.cli import run_cli
from tests.helpers.server import clean_env, running_server
from tests.helpers.wait import wait_until
from tunehouse.store import schema as t
from tunehouse.store.records import StatusChange, TaskCreate, TaskStatus
from tunehouse.store.sql import SqlStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_killed_script_is_failed_by_the_watchdog(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(orjson.dumps({"task_lost_after_s": 3}).decode())
    with running_server(home) as server:
        script = tmp_path / "train.py"
        script.write_text(textwrap.dedent("""
            import time
            from tunehouse import Task
            task = Task.init(project_name="faults/liveness", task_name="killed")
            task.get_logger().report_scalar("m", "s", 1.0, 0)
            task.flush()
            print(task.id, flush=True)
            time.sleep(600)
        """))
        proc = subprocess.Popen([sys.executable, str(script)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**server.client_env(home=tmp_path / "client"),
                                     "PYTHONPATH": str(REPO_ROOT)})
        assert proc.stdout is not None
        task_id = proc.stdout.readline().strip()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        store = server.store()
        try:
            assert store.tasks.get_task(task_id).status is TaskStatus.in_progress
            wait_until(lambda: store.tasks.get_task(task_id).status is not TaskStatus.in_progress,
                       60, "the watchdog to fail the task", interval=0.3)
            task = store.tasks.get_task(task_id)
            assert task.status is TaskStatus.failed
            assert task.status_reason.startswith("process lost: no sign of life since ")
            assert "process lost" in server.log()
        finally:
            store.close()


def test_a_live_script_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(orjson.dumps({"task_lost_after_s": 2}).decode())
    with running_server(home) as server:
        store = server.store()
        try:
            task = store.tasks.create_task(TaskCreate(project="faults/liveness", name="alive"))
            store.tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
            for _ in range(8):  # beats every 0.5 s for 4 s: twice the lost_after
                time.sleep(0.5)
                store.tasks.mark_alive(task.id)
            assert store.tasks.get_task(task.id).status is TaskStatus.in_progress
        finally:
            store.close()


def _age(store: SqlStore, task_id: str, seconds: float) -> None:
    """Make the task's last sign of life ``seconds`` old (as if its process died then)."""
    old = datetime.now(UTC) - timedelta(seconds=seconds)
    with store.engine.begin() as conn:
        conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id)
                     .values(last_seen=old, started=old, updated=old))


def test_abort_of_a_quiet_task_ends_it_at_once_and_of_a_live_one_asks(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs") as store:
        quiet = store.tasks.create_task(TaskCreate(project="faults/abort", name="quiet"))
        live = store.tasks.create_task(TaskCreate(project="faults/abort", name="live"))
        for task in (quiet, live):
            store.tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
        _age(store, quiet.id, 600)
        assert store.tasks.request_abort(quiet.id).status is TaskStatus.aborted
        asked = store.tasks.request_abort(live.id)
        assert asked.status is TaskStatus.in_progress and asked.abort_requested
        assert store.tasks.mark_alive(live.id).abort_requested  # what the SDK's beat sees
        _age(store, live.id, 120)  # its process died after the request: the pass ends it
        [reaped] = store.tasks.reap_lost_tasks(300)
        assert reaped.id == live.id and reaped.status is TaskStatus.aborted


def test_cli_abort_reset_and_reap_on_the_embedded_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = f"sqlite:///{home / 'tunehouse.db'}"
    with SqlStore(db, home / "artifacts") as store:
        task = store.tasks.create_task(TaskCreate(project="faults/cli", name="stuck"))
        store.tasks.change_status(task.id, StatusChange(status=TaskStatus.in_progress))
        _age(store, task.id, 3600)

    def cli(*args: str) -> str:
        return run_cli(*args, env=clean_env(TUNEHOUSE_HOME=str(home)), ok=True).stdout

    assert "process lost" in cli("tasks", "reap", "--after", "300")
    assert "reset to created" in cli("tasks", "reset", task.id[:8])
    assert "aborted" in cli("tasks", "abort", task.id[:8], "--reason", "no longer needed")
    with SqlStore(db, home / "artifacts") as store:
        record = store.tasks.get_task(task.id)
        assert record.status is TaskStatus.aborted and record.status_reason == "no longer needed"
