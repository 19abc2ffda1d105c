"""The background reporter and Logger input checks, against real stores."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.helpers.server import free_port
from tests.helpers.wait import wait_until
from tests.sdk.conftest import Backend
from tunehouse.client.http import HttpStore
from tunehouse.errors import InvalidInput
from tunehouse.sdk.logger import Logger
from tunehouse.sdk.reporter import Reporter
from tunehouse.sdk.task import Task
from tunehouse.store.records import TaskCreate


class Notes:
    """Collects the reporter's user-facing messages."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(message)


def _logger(backend: Backend, reporter: Reporter, task_id: str) -> Logger:
    task = Task(backend.store, backend.settings, backend.store.tasks.get_task(task_id))
    return Logger(task, reporter)


def test_buffer_overflow_spills_to_disk_and_loses_nothing(backend: Backend) -> None:
    task = backend.store.tasks.create_task(TaskCreate(project="sdk/rep", name="spill"))
    notes = Notes()
    reporter = Reporter(backend.store, task.id, backend.settings.offline_spool, notes,
                        batch_size=100, interval=60, max_buffered=500)
    logger = _logger(backend, reporter, task.id)
    for i in range(20_000):
        logger.report_scalar("m", "s", i, i)
    assert reporter.spooled_batches > 0
    assert reporter.close(60)
    (series,) = backend.store.events.get_scalars(task.id)
    assert series.x == list(range(20_000))
    assert not (backend.settings.offline_spool / task.id).exists()


def test_reports_from_many_threads_are_all_stored(backend: Backend) -> None:
    task = backend.store.tasks.create_task(TaskCreate(project="sdk/rep", name="threads"))
    reporter = Reporter(backend.store, task.id, backend.settings.offline_spool, Notes(),
                        batch_size=1000, interval=0.2)
    logger = _logger(backend, reporter, task.id)

    def work(n: int) -> None:
        for i in range(5000):
            logger.report_scalar("t", f"thread{n}", float(i), i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reporter.flush(60)
    counts = {m.series: m.count for m in backend.store.events.get_metric_summaries(task.id)}
    assert counts == {f"thread{n}": 5000 for n in range(4)}
    assert reporter.close(10)


def test_rejected_batch_is_kept_and_reported(embedded: Backend) -> None:
    notes = Notes()
    reporter = Reporter(embedded.store, "no-such-task", embedded.settings.offline_spool, notes)
    reporter.scalars.append(("m", "s", 0, 1.0, 0.0))
    reporter.add_log("stdout", "kept")
    reporter.close(10)
    rejected = embedded.settings.offline_spool / "no-such-task" / "rejected"
    (kept,) = rejected.glob("*.json")
    payload = orjson.loads(kept.read_bytes())
    assert payload["scalars"] == [["m", "s", 0, 1.0, 0.0]]
    assert payload["logs"][0][:2] == ["stdout", "kept"]
    assert "NotFound" in kept.with_suffix(".reason").read_text()
    assert any("rejected" in line for line in notes.lines)


def test_unreachable_server_spools_and_flush_times_out(tmp_path: Path) -> None:
    store = HttpStore(f"http://127.0.0.1:{free_port()}", "key", "secret", timeout=2)
    notes = Notes()
    reporter = Reporter(store, "t" * 32, tmp_path / "spool", notes, interval=0.1)
    for i in range(25_000):
        reporter.scalars.append(("m", "s", i, float(i), 0.0))
    assert reporter.flush(1.0) is False
    assert reporter.close(0.5) is False
    files = sorted((tmp_path / "spool" / ("t" * 32)).glob("*.json"))
    events = [event for path in files for event in orjson.loads(path.read_bytes())["scalars"]]
    assert [event[2] for event in events] == list(range(25_000))
    assert any("cannot reach" in line for line in notes.lines)
    assert any("tunehouse sync" in line for line in notes.lines)
    store.close()


def test_report_scalar_checks_its_arguments(embedded: Backend) -> None:
    task = embedded.store.tasks.create_task(TaskCreate(project="sdk/rep", name="checks"))
    reporter = Reporter(embedded.store, task.id, embedded.settings.offline_spool, Notes())
    logger = _logger(embedded, reporter, task.id)
    cases = [
        (("t", "s", "high", 1), "value"),
        (("t", "s", None, 1), "value"),
        (("t", "s", object(), 1), "value"),
        ((1, "s", 1.0, 1), "title"),
        (("t", None, 1.0, 1), "series"),
        (("t", "s", 1.0, 1.5), "iteration"),
        (("t", "s", 1.0, True), "iteration"),
    ]
    for args, argument in cases:
        with pytest.raises(InvalidInput, match=argument) as info:
            logger.report_scalar(*args)
        assert info.value.detail == {"argument": argument}
    import numpy as np

    logger.report_scalar("t", "s", np.float32(0.5), np.int64(3))
    logger.report_scalar("t", "s", 2, 4)
    logger.report_scalar("t", "s", math.inf, 5)
    logger.report_scalar("t", "s", math.nan, 6)
    assert reporter.close(10)
    (series,) = embedded.store.events.get_scalars(task.id)
    assert series.x == [3, 4, 5, 6] and series.y == [0.5, 2.0, None, None]


def test_reporting_after_close_is_an_error(embedded: Backend) -> None:
    task = Task.init("sdk/rep", "closed", auto_connect_streams=False,
                     auto_resource_monitoring=False, settings=embedded.settings)
    logger = task.get_logger()
    logger.report_scalar("m", "s", 1.0, 0)
    task.close()
    with pytest.raises(InvalidInput, match="closed"):
        logger.report_scalar("m", "s", 2.0, 1)
    assert embedded.store.events.get_metric_summaries(task.id)[0].count == 1
    with pytest.raises(InvalidInput, match="no task is running"):
        Logger.current_logger()


def test_console_capture_in_process_restores_descriptors(
        embedded: Backend, capfd: pytest.CaptureFixture[str]) -> None:
    import os
    import sys

    before = [os.fstat(fd) for fd in (1, 2)]
    hooks_before = (sys.excepthook, threading.excepthook, sys.exit)
    task = Task.init("sdk/rep", "console", auto_resource_monitoring=False,
                     settings=embedded.settings)
    os.write(1, b"seen by both\n")  # pytest swaps sys.stdout itself; descriptors are ours
    os.write(2, b"fd two\n")
    task.close()
    after = [os.fstat(fd) for fd in (1, 2)]
    assert [(s.st_ino, s.st_dev) for s in before] == [(s.st_ino, s.st_dev) for s in after]
    assert (sys.excepthook, threading.excepthook, sys.exit) == hooks_before
    out, err = capfd.readouterr()
    assert "seen by both" in out and "fd two" in err
    logs = [(line.stream, line.text) for line in embedded.store.events.get_logs(task.id)]
    assert ("stdout", "seen by both") in logs and ("stderr", "fd two") in logs
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("tunehouse-")]
    assert leftover == []


def test_a_hung_request_is_kept_in_the_spool_at_close(tmp_path: Path) -> None:
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = HttpStore(f"http://127.0.0.1:{port}", "key", "secret", timeout=30)
        reporter = Reporter(store, "h" * 32, tmp_path / "spool", Notes(), interval=0.05)
        reporter.scalars.append(("m", "s", 0, 1.0, 0.0))
        # the thread takes the batch and waits for an answer
        wait_until(lambda: not reporter.pending_events(), 10,
                   "the reporter thread to take the batch", interval=0.01)
        started = time.monotonic()
        assert reporter.close(0.5) is False
        assert time.monotonic() - started < 5  # close never waits for the hung request
        (kept,) = (tmp_path / "spool" / ("h" * 32)).glob("*.json")
        assert orjson.loads(kept.read_bytes())["scalars"] == [["m", "s", 0, 1.0, 0.0]]
        store.close()
