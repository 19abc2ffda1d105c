"""The SDK's reporting under failure: a full spool, lines that would sink a batch, events
the store refuses, many processes attaching to one task (issue 8, cases 1, 5 and 8).
Scripts run as real processes against a real server."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.helpers.cli import run_cli
from tests.helpers.server import ServerProcess, clean_env, running_server
from tests.helpers.wait import wait_for_file
from tunehouse.client.http import HttpStore
from tunehouse.sdk.reporter import Reporter
from tunehouse.sdk.spool import write_atomic
from tunehouse.store.records import TaskCreate, TaskStatus

REPO_ROOT = Path(__file__).resolve().parents[2]


class Notes(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def run_python(source: str, env: dict[str, str], cwd: Path,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    script = cwd / f"script_{uuid.uuid4().hex[:6]}.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, str(script)], env={**env, "PYTHONPATH": str(REPO_ROOT)},
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def stored_count(store: HttpStore, task_id: str, title: str = "m") -> int:
    return sum(s.count for s in store.events.get_metric_summaries(task_id) if s.title == title)


@pytest.mark.slow
def test_a_full_spool_while_the_server_is_away_loses_nothing_silently(
        tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    spool = tmpfs("1m")
    with running_server(tmp_path / "home") as server:
        store = server.store()
        try:
            task = store.tasks.create_task(TaskCreate(project="faults/spool", name="full"))
            server.stop()
            notes = Notes()
            reporter = Reporter(store, task.id, spool, notes, max_held_events=300_000)
            reported = 1_000_000
            for i in range(reported):  # what Logger.report_scalar does, without pauses
                reporter.scalars.append(("m", "s", i, float(i), 1.0))
                if len(reporter.scalars) >= reporter.max_buffered:
                    reporter.spill()  # must never raise into the training loop
            server._start()
            assert reporter.close(120) is False
            stored = stored_count(store, task.id)
            assert reporter.dropped_events > 0
            assert stored + reporter.dropped_events == reported
            assert any("spool cannot be written" in line for line in notes)
            assert any(f"{reporter.dropped_events} report(s)" in line for line in notes)
        finally:
            store.close()


@pytest.mark.slow
def test_a_training_script_with_a_full_spool_finishes_and_its_task_says_what_was_lost(
        tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    spool = tmpfs("1m")
    with running_server(tmp_path / "home") as server:
        marker = tmp_path / "server-is-back"
        env = {**server.client_env(), "TUNEHOUSE_SPOOL": str(spool)}
        source = f"""
            import os, sys, time
            from tunehouse import Task
            # no console capture, no resource monitor: the 1,500,000 scalars are all the
            # task reports, so stored + dropped must make exactly that
            task = Task.init(project_name="faults/spool", task_name="script",
                             auto_connect_streams=False, auto_resource_monitoring=False)
            print("TASK=" + task.id, flush=True)
            while not os.path.exists({str(tmp_path / 'server-is-down')!r}):
                time.sleep(0.05)
            logger = task.get_logger()
            for i in range(1_500_000):
                logger.report_scalar("m", "s", float(i), i)
            open({str(marker)!r}, "w").close()
            while not os.path.exists({str(tmp_path / 'server-is-up')!r}):
                time.sleep(0.05)
            task.close()
            print("DONE", flush=True)
        """
        script = tmp_path / "train.py"
        script.write_text(textwrap.dedent(source))
        proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, text=True,
                                env={**env, "PYTHONPATH": str(REPO_ROOT)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        task_id = proc.stdout.readline().strip().removeprefix("TASK=")
        server.stop()
        (tmp_path / "server-is-down").touch()
        wait_for_file(marker, 120, proc=proc)
        server._start()
        (tmp_path / "server-is-up").touch()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "DONE" in out
        # close() flushes for 30 s: on a loaded machine what it could not send in that time
        # stays in the spool (said on stderr), for `tunehouse sync`; it is not lost
        assert ("could not be sent" in err) == bool(list(spool.glob("*/*.json")))
        synced = run_cli("sync", env=env)
        assert synced.returncode == 0, synced.stderr + synced.stdout
        store = server.store()
        try:
            record = store.tasks.get_task(task_id)
            assert record.status.value == "completed"
            dropped = [s for s in store.events.get_metric_summaries(task_id)
                       if s.title == ":dropped:"]
            assert len(dropped) == 1 and dropped[0].last and dropped[0].last > 0
            assert stored_count(store, task_id) + int(dropped[0].last) == 1_500_000
            assert f"{int(dropped[0].last)} report(s)" in record.status_message
            assert "spool cannot be written" in record.status_message
        finally:
            store.close()



def test_a_spool_write_that_fills_the_disk_leaves_no_temporary_file(
        tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    spool = tmpfs("1m")
    with pytest.raises(OSError) as failed:  # one write larger than the whole disk
        write_atomic(spool / "big.json", b"x" * 2_000_000)
    assert failed.value.errno == errno.ENOSPC
    assert list(spool.iterdir()) == []
    with running_server(tmp_path / "home") as server:
        store = server.store()
        try:
            task = store.tasks.create_task(TaskCreate(project="faults/spool", name="tmp"))
            server.stop()
            notes = Notes()
            reporter = Reporter(store, task.id, spool, notes, batch_size=10_000,
                                max_buffered=10_000, max_held_events=20_000)
            for i in range(100_000):  # ~300 KB a batch: the fourth one fills the disk
                reporter.scalars.append(("m", "s", i, float(i), 1.0))
                if len(reporter.scalars) >= reporter.max_buffered:
                    reporter.spill()
            assert reporter.close(1) is False
            assert any("spool cannot be written" in line for line in notes)
            assert [p.name for p in spool.rglob("*.tmp")] == []
            server._start()
            env = {**clean_env(TUNEHOUSE_HOME=str(tmp_path / "cli-home"),
                               TUNEHOUSE_SPOOL=str(spool)), **_server_env(server)}
            synced = run_cli("sync", env=env)
            assert synced.returncode == 0, synced.stderr + synced.stdout
            assert list(spool.iterdir()) == []  # all sent, the task's folder removed
            assert stored_count(store, task.id) + reporter.dropped_events == 100_000
        finally:
            store.close()


def test_huge_console_lines_are_truncated_and_the_scalars_beside_them_are_stored(
        tmp_path: Path, server: ServerProcess) -> None:
    env = {**server.client_env(), "TUNEHOUSE_HOME": str(tmp_path / "client")}
    result = run_python("""
        import sys
        from tunehouse import Task
        task = Task.init(project_name="faults/console", task_name="big lines")
        logger = task.get_logger()
        for i in range(1000):
            logger.report_scalar("m", "s", float(i), i)
            if i % 150 == 0:
                print("x" * 10_000_000)
        task.close()
        print("TASK=" + task.id, file=sys.stderr)
    """, env, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    task_id = result.stderr.strip().splitlines()[-1].removeprefix("TASK=")
    store = server.store()
    try:
        assert stored_count(store, task_id) == 1000
        lines = [line for line in store.events.get_logs(task_id, limit=100_000)
                 if line.text.startswith("xxx")]
        assert len(lines) == 7
        assert all("characters truncated]" in line.text and len(line.text) < 70_000
                   for line in lines)
    finally:
        store.close()
    assert not list((tmp_path / "client").rglob("rejected"))


def test_a_refused_event_is_split_off_and_the_rest_of_its_batch_stored(
        tmp_path: Path, server: ServerProcess) -> None:
    store = server.store()
    try:
        task = store.tasks.create_task(TaskCreate(project="faults/split", name="one bad"))
        notes = Notes()
        spool = tmp_path / "spool"
        reporter = Reporter(store, task.id, spool, notes)
        for i in range(10_000):
            title = "m" if i != 6_789 else "t" * 5_000  # a title the store refuses
            reporter.scalars.append((title, "s", i, float(i), 1.0))
        assert reporter.close(60) is True  # nothing left to send: 9,999 stored, 1 kept
        assert stored_count(store, task.id) == 9_999
        [kept] = (spool / task.id / "rejected").glob("*.json")
        assert len(orjson.loads(kept.read_bytes())["scalars"]) == 1
        assert any("rejected" in line for line in notes)
        env = {**clean_env(TUNEHOUSE_HOME=str(tmp_path / "cli-home"),
                           TUNEHOUSE_SPOOL=str(spool)), **_server_env(server)}
        synced = run_cli("sync", env=env)
        assert synced.returncode == 1, synced.stdout
        assert "refused by the store" in synced.stdout and task.id in synced.stdout
    finally:
        store.close()


def _server_env(server: ServerProcess) -> dict[str, str]:
    return {"TUNEHOUSE_SERVER": server.url, "TUNEHOUSE_ACCESS_KEY": server.access_key,
            "TUNEHOUSE_SECRET_KEY": server.secret_key}


def test_sixteen_processes_attach_to_one_task_and_all_report(
        tmp_path: Path, server: ServerProcess) -> None:
    # as an agent launches a distributed job: the task is claimed (attempt 1) and every
    # rank runs under that attempt; the launcher, not a rank, ends the task
    store = server.store()
    try:
        task = store.tasks.create_task(TaskCreate(project="faults/attach", name="ddp"))
        store.queues.enqueue(task.id, "faults-attach")
        claimed = store.queues.claim_task(["faults-attach"], "launcher")
        assert claimed is not None and claimed.id == task.id and claimed.attempt == 1
    finally:
        store.close()
    env = {**server.client_env(), "TUNEHOUSE_TASK_ID": task.id, "TUNEHOUSE_TASK_ATTEMPT": "1",
           "TUNEHOUSE_HOME": str(tmp_path / "client"), "PYTHONPATH": str(REPO_ROOT)}
    script = tmp_path / "rank.py"
    script.write_text(textwrap.dedent("""
        import sys
        from tunehouse import Task
        rank = sys.argv[1]
        task = Task.init(project_name="faults/attach", task_name="ddp")
        for i in range(500):
            task.get_logger().report_scalar("loss", f"rank{rank}", float(i), i)
        task.flush()
        print("OK", rank)
    """))
    results: list[subprocess.CompletedProcess[str]] = []
    lock = threading.Lock()

    def run(rank: int) -> None:
        done = subprocess.run([sys.executable, str(script), str(rank)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=240)
        with lock:
            results.append(done)

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [r.stderr[-1500:] for r in results if r.returncode != 0]
    assert not failures, failures
    store = server.store()
    try:
        summaries = {s.series: s.count for s in store.events.get_metric_summaries(task.id)}
        assert summaries == {f"rank{rank}": 500 for rank in range(16)}
        after = store.tasks.get_task(task.id)
        assert (after.status, after.attempt) == (TaskStatus.in_progress, 1)
    finally:
        store.close()
