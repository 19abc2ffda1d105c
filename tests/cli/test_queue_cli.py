"""``tunehouse queues|workers`` and ``tunehouse tasks clone|enqueue|dequeue|log``, run as
real subprocesses against the session's server (HTTP) or an embedded SQLite database.

Queue and worker names are unique per test: the shared server's queues are global.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import cli
from tests.helpers.databases import embedded_store
from tests.helpers.server import ServerProcess, clean_env
from tunehouse.cli.workers import format_stats
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
    LogEvent,
    Parameter,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
    WorkerHeartbeat,
)


@dataclass
class Target:
    """Where the CLI runs against: ``kw`` for :func:`cli`, ``store`` to seed and check."""

    store: Store
    kw: dict[str, Any]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return cli(*args, ok=ok, **self.kw)

    def command(self, *args: str) -> list[str]:
        extra = ["--data-dir", str(self.kw["home"])] if "home" in self.kw else []
        return [sys.executable, "-m", "tunehouse", *args, *extra]

    @property
    def env(self) -> dict[str, str]:
        return self.kw.get("env") or clean_env()


@pytest.fixture
def served(shared_server: ServerProcess, tmp_path: Path) -> Iterator[Target]:
    store = shared_server.store()
    try:
        yield Target(store, {"env": shared_server.client_env(home=tmp_path / "client")})
    finally:
        store.close()


@pytest.fixture
def embedded(home: Path) -> Iterator[Target]:
    store = embedded_store(home)
    try:
        yield Target(store, {"home": home})
    finally:
        store.close()


@pytest.fixture(params=["server", "embedded"])
def target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue("served" if request.param == "server" else "embedded")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _task(store: Store, project: str, name: str = "train") -> str:
    return store.tasks.create_task(TaskCreate(project=project, name=name)).id


def _order(target: Target, queue: str) -> list[str]:
    return [e.task_id for e in target.store.queues.list_queue_entries(queue)]


def test_queues_and_enqueue_dequeue(target: Target) -> None:
    queue, project = _unique("q"), _unique("cli/queues")
    assert f"queue {queue} (0 tasks)" in target.run("queues", "create", queue).stdout
    listing = target.run("queues", "list").stdout
    assert queue in listing and "default" in listing
    first, second = _task(target.store, project, "first"), _task(target.store, project, "second")
    assert f"queued in {queue}" in target.run("tasks", "enqueue", first[:12], "--queue",
                                              queue).stdout
    target.run("tasks", "enqueue", second, "--queue", queue, "--priority", "5")
    assert _order(target, queue) == [second, first]
    shown = target.run("queues", "show", queue).stdout
    assert shown.index(second) < shown.index(first) and "first" in shown and "2 tasks" in shown
    assert "front" in target.run("queues", "move", first[:12], "--front").stdout
    assert _order(target, queue) == [first, second]
    target.run("queues", "move", first, "--back")
    assert _order(target, queue) == [second, first]

    busy = target.run("queues", "delete", queue, ok=False)
    assert busy.returncode == 2 and "dequeue" in busy.stderr and "Traceback" not in busy.stderr
    assert "created" in target.run("tasks", "dequeue", first).stdout
    target.run("tasks", "dequeue", second)
    assert target.store.tasks.get_task(first).status == TaskStatus.created
    target.run("queues", "delete", queue)
    assert queue not in target.run("queues", "list").stdout
    assert target.run("queues", "delete", "default", ok=False).returncode == 2
    again = target.run("tasks", "dequeue", first, ok=False)
    assert again.returncode == 2 and "created" in again.stderr
    neither = target.run("queues", "move", first, ok=False)
    assert neither.returncode == 2 and "--front" in neither.stderr


def test_enqueue_defaults_to_the_default_queue(embedded: Target) -> None:
    task_id = _task(embedded.store, "cli/default")
    assert "queued in default (priority 0)" in embedded.run("tasks", "enqueue", task_id).stdout
    assert _order(embedded, "default") == [task_id]


def test_clone_with_set_and_queue(target: Target) -> None:
    project, queue = _unique("cli/clone"), _unique("q")
    source = _task(target.store, project, "base")
    target.store.tasks.set_parameters(source, [
        Parameter(section="Args", name="lr", value="0.1", type="float"),
        Parameter(section="Args", name="batch", value="32", type="int"),
        Parameter(section="General", name="batch", value="64", type="int"),
        Parameter(section="General", name="optimizer", value="sgd", type="str"),
    ])
    out = target.run("tasks", "clone", source[:12], "--name", "tuned", "--set", "lr=0.5",
                     "--set", "General/batch=128", "--set", "optimizer=adam, with=sign",
                     "--set", "Extra/note=new one", "--queue", queue, "--parent", source).stdout
    clone_id = out.strip()
    clone = target.store.tasks.get_task(clone_id)
    assert clone.name == "tuned" and clone.parent_id == source and clone.project == project
    assert clone.status == TaskStatus.queued and _order(target, queue) == [clone_id]
    params = {(p.section, p.name): (p.value, p.type)
              for p in target.store.tasks.get_parameters(clone_id)}
    assert params[("Args", "lr")] == ("0.5", "float")
    assert params[("General", "batch")] == ("128", "int")
    assert params[("Args", "batch")] == ("32", "int")
    assert params[("General", "optimizer")] == ("adam, with=sign", "str")
    assert params[("Extra", "note")] == ("new one", "str")
    target.store.queues.dequeue(clone_id)

    plain = target.run("tasks", "clone", source).stdout.strip()
    assert target.store.tasks.get_task(plain).name == "base (clone)"
    assert target.store.tasks.get_task(plain).status == TaskStatus.created

    for edit, message in [("batch=1", "ambiguous: Args/batch, General/batch"),
                          ("lrate=1", "unknown parameter 'lrate'"),
                          ("lr=fast", "parameter 'Args/lr': cannot cast 'fast' to float"),
                          ("lr", "expected SECTION/NAME=VALUE")]:
        bad = target.run("tasks", "clone", source, "--set", edit, ok=False)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    page = target.store.tasks.list_tasks(TaskQuery(project=project))
    assert page.total == 3  # the refused edits cloned nothing
    missing = target.run("tasks", "clone", "ffffffffffff", ok=False)
    assert missing.returncode == 2 and "no task" in missing.stderr


def test_workers_list(served: Target) -> None:
    name = _unique("worker")
    served.store.queues.heartbeat(WorkerHeartbeat(
        name=name, host="gpu-box-7", queues=["default", "gpu"], gpus=["0", "1"], slots=2,
        free_slots=1, stats={"cpu_percent": 30.0, "memory_used_percent": 45.2,
                             "memory_used_gb": 12.5,
                             "gpus": [{"index": 0, "utilization_percent": 97.0},
                                      {"index": 1, "utilization_percent": 5.5}]}))
    listing = served.run("workers", "list").stdout
    row = next(line for line in listing.splitlines() if name in line)
    for expected in ("gpu-box-7", "default, gpu", "0, 1", "1/2", "s ago", "cpu 30%",
                     "mem 45%", "gpu0 97%", "gpu1 5.5%"):
        assert expected in row, (expected, row)
    assert name in served.run("workers", "list", "--max-age", "600").stdout
    assert "gpu3 40%" in format_stats({"gpu3_utilization": 40})  # the monitor's names
    assert format_stats({"load": 1.5}) == "load=1.5" and format_stats({}) == "-"
    bad = served.run("workers", "list", "--max-age", "0", ok=False)
    assert bad.returncode == 2 and "--max-age" in bad.stderr


def test_queues_reap_requeues_a_task_whose_lease_ran_out(embedded: Target) -> None:
    store = embedded.store
    task_id = _task(store, "cli/reap")
    store.queues.enqueue(task_id, "reap-q")
    claimed = store.queues.claim_task(["reap-q"], "vanished-agent", lease_s=0.2)
    assert claimed is not None and claimed.id == task_id
    time.sleep(0.5)
    out = embedded.run("queues", "reap", "--retries", "1").stdout
    assert f"{task_id} queued in reap-q" in out and "1 task(s) changed" in out
    assert store.tasks.get_task(task_id).status == TaskStatus.queued


def _write_lines(store: Store, task_id: str, texts: list[str], stream: str = "stdout") -> None:
    store.events.add_events(EventBatch(batch_id=uuid.uuid4().hex, task_id=task_id,
                                       logs=[LogEvent(stream, text, time.time())
                                             for text in texts]))


def _running_task(store: Store, project: str) -> str:
    task_id = _task(store, project)
    store.tasks.change_status(task_id, StatusChange(status=TaskStatus.in_progress))
    return task_id


def test_log_tail_and_follow(target: Target) -> None:
    store = target.store
    task_id = _running_task(store, _unique("cli/log"))
    _write_lines(store, task_id, [f"early {i}" for i in range(3)])
    _write_lines(store, task_id, ["warning: on stderr"], stream="stderr")
    assert target.run("tasks", "log", task_id[:12]).stdout.splitlines() == [
        "early 0", "early 1", "early 2", "warning: on stderr"]
    assert target.run("tasks", "log", task_id, "--tail", "2").stdout.splitlines() == [
        "early 2", "warning: on stderr"]

    follow = subprocess.Popen(target.command("tasks", "log", task_id, "--follow", "--tail", "1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=target.env)
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "warning: on stderr\n"  # printed, now following
        _write_lines(store, task_id, ["late 0", "late 1"])
        assert follow.stdout.readline() == "late 0\n"
        _write_lines(store, task_id, ["last words"])
        store.tasks.change_status(task_id, StatusChange(status=TaskStatus.completed))
        follow.wait(timeout=60)
        rest = follow.stdout.read()  # not communicate(): readline() buffered some already
        err = follow.stderr.read() if follow.stderr is not None else ""
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    assert rest.splitlines() == ["late 1", "last words"]


def test_log_follow_ends_quietly_on_ctrl_c(served: Target) -> None:
    task_id = _running_task(served.store, _unique("cli/log"))
    _write_lines(served.store, task_id, ["hello"])
    follow = subprocess.Popen(served.command("tasks", "log", task_id, "--follow"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=served.env)
    try:
        assert follow.stdout is not None and follow.stdout.readline() == "hello\n"
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 130 and err == ""
    served.store.tasks.change_status(task_id, StatusChange(status=TaskStatus.completed))
