"""Reports survive a server that dies: spooled, resent once, and `tunehouse sync`."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.wait import wait_for_file
from tests.sdk.conftest import REPO_ROOT, Backend, task_id_from
from tunehouse.sdk.spool import TaskSpool, batch_payload, to_event_batch
from tunehouse.settings import Settings
from tunehouse.store.records import TaskCreate, TaskStatus


def test_server_killed_while_reporting(served: Backend, tmp_path: Path) -> None:
    backend = served
    server = backend.server
    assert server is not None
    proc = backend.start("report_through_outage.py", str(tmp_path))
    wait_for_file(tmp_path / "phase1", proc=proc)
    server.kill()
    (tmp_path / "killed").touch()
    wait_for_file(tmp_path / "phase2", proc=proc)
    spool = Settings.from_env(env=backend.env).offline_spool
    assert list(spool.glob("*/*.json")), "reports made during the outage must be spooled"
    server.restart()
    (tmp_path / "restarted").touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "CLOSED" in out
    assert "spooling reports" in err
    task_id = task_id_from(out)
    store = server.store()
    try:
        (series,) = store.events.get_scalars(task_id, title="m")
        assert series.total == 4000
        assert series.x == list(range(4000))  # every scalar exactly once
        assert series.y == [float(i) for i in range(4000)]
        assert store.tasks.get_task(task_id).status == TaskStatus.completed
    finally:
        store.close()
    assert not list(spool.glob("*/*.json"))


def test_sync_uploads_what_a_dead_process_left(served: Backend, tmp_path: Path) -> None:
    backend = served
    server = backend.server
    assert server is not None
    proc = backend.start("spool_on_close.py", str(tmp_path))
    wait_for_file(tmp_path / "ready", proc=proc)
    server.kill()
    (tmp_path / "killed").touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "run `tunehouse sync`" in err
    task_id = task_id_from(out)
    spool = Settings.from_env(env=backend.env).offline_spool
    assert list((spool / task_id).glob("*.json"))
    server.restart()
    env = server.client_env()
    env["TUNEHOUSE_HOME"] = backend.env["TUNEHOUSE_HOME"]
    env["PYTHONPATH"] = str(REPO_ROOT)
    for attempt in range(2):
        done = run_cli("sync", env=env)
        assert done.returncode == 0, done.stderr
        if attempt == 0:
            assert done.stdout.startswith("sent ") and not done.stdout.startswith("sent 0 ")
        else:
            assert done.stdout.startswith("sent 0 batch")
    store = server.store()
    try:
        (series,) = store.events.get_scalars(task_id, title="m")
        assert series.x == list(range(600))
    finally:
        store.close()
    assert not (spool / task_id).exists()


def test_sync_resends_a_spooled_batch_exactly_once(backend: Backend) -> None:
    store = backend.store
    task = store.tasks.create_task(TaskCreate(project="sdk/sync", name="sync"))
    settings = backend.settings
    spool = TaskSpool(settings.offline_spool, task.id)
    first = batch_payload(uuid.uuid4().hex, task.id,
                          [("m", "s", i, float(i), 1.0) for i in range(10)], [])
    second = batch_payload(uuid.uuid4().hex, task.id,
                           [("m", "s", i, float(i), 1.0) for i in range(10, 15)],
                           [("stdout", "line", 1.0)])
    spool.write(first)
    spool.write(second)
    # the first batch reached the store but its answer was lost before the process died
    store.events.add_events(to_event_batch(first))
    spool.close()  # the process is gone: lock released, files left behind
    env = dict(backend.env, PYTHONPATH=str(REPO_ROOT))
    done = run_cli("sync", env=env)
    assert done.returncode == 0, done.stderr
    assert "sent 2 batch(es) (1 already stored)" in done.stdout
    (series,) = store.events.get_scalars(task.id, title="m")
    assert series.x == list(range(15))
    assert [line.text for line in store.events.get_logs(task.id)] == ["line"]
    assert not (settings.offline_spool / task.id).exists()


def test_sync_skips_a_live_process_spool(embedded: Backend) -> None:
    task = embedded.store.tasks.create_task(TaskCreate(project="sdk/sync", name="live"))
    settings = embedded.settings
    live = TaskSpool(settings.offline_spool, task.id)
    live.write(batch_payload(uuid.uuid4().hex, task.id, [("m", "s", 0, 1.0, 1.0)], []))
    from tunehouse.sdk.spool import sync_spool

    result = sync_spool(settings, store=embedded.store)
    assert result.skipped_locked == [task.id] and result.sent == 0
    live.close()
    assert sync_spool(settings, store=embedded.store).sent == 1
    assert embedded.store.events.get_metric_summaries(task.id)[0].count == 1
