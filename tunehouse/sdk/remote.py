"""``task.execute_remotely()``: stop running here and let an agent run the task.

Locally the script runs up to the call (connecting its parameters and recording its code
and environment), then the task itself (or a clone of it) goes to a queue and the local
process ends. Under an agent (``TUNEHOUSE_TASK_ID``) the same call does nothing, so the
script goes on past it there.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING

from tunehouse.common.retry import retrying
from tunehouse.errors import InvalidInput
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE
from tunehouse.store.records import StatusChange, TaskStatus
from tunehouse.store.records import Task as TaskRecord

if TYPE_CHECKING:
    from tunehouse.sdk.run import TaskRun


def under_agent(settings: Settings) -> bool:
    """This process runs a task for an agent (or anything that set ``TUNEHOUSE_TASK_ID``)."""
    return bool(settings.task_id)


def send_to_queue(store: Store, task_id: str, run: TaskRun | None, queue_name: str | None,
                  clone: bool, close_run: bool) -> TaskRecord:
    """Queue the running task ``task_id`` (or, with ``clone``, a clone of it) in
    ``queue_name`` (default ``default``) once its code, environment and reports are
    stored. Without ``clone`` the local run is closed first, leaving the status to the
    queue; with ``clone`` the local run is closed normally (``completed``) only when
    ``close_run``. Returns the queued task's record.

    Raises:
        InvalidInput: ``run`` is not running, is offline, or the task is no longer
            ``in_progress`` (it cannot be queued again).
    """
    if run is None or not run.running:
        raise InvalidInput(f"execute_remotely() needs the running task from Task.init(); "
                           f"task {task_id} is not running in this process")
    if run.offline is not None:
        raise InvalidInput("execute_remotely(): the server is unreachable and the run is "
                           "offline; it cannot be queued")
    queue = queue_name or DEFAULT_QUEUE
    store.queues.get_or_create_queue(queue)  # a bad queue name fails before anything changes
    if not clone:
        status = store.tasks.get_task(task_id).status
        if status is not TaskStatus.in_progress:
            raise InvalidInput(f"execute_remotely(): task {task_id} is {status.value}, not "
                               "in_progress; use clone=True to queue a copy of it")
    deadline = time.monotonic() + run.flush_timeout
    if not run.wait_for_capture(run.flush_timeout):
        run.warn(f"tunehouse: the code and environment of task {task_id} were not recorded "
                 "in time; the agent may lack them")
    run.flush(max(0.5, deadline - time.monotonic()))
    if clone:
        record = store.tasks.clone_task(task_id)
        record = store.queues.enqueue(record.id, queue)
        if close_run:
            run.shutdown(TaskStatus.completed)
    else:
        run.note_final_status()  # the queue, not this process, decides what comes next
        run.shutdown(TaskStatus.completed)
        record = _enqueue_closed(store, task_id, queue, deadline)
    print(f"tunehouse: task {record.id} queued in {queue!r} for remote execution",
          file=sys.stderr, flush=True)
    return record


def _enqueue_closed(store: Store, task_id: str, queue: str, deadline: float) -> TaskRecord:
    """Queue the task whose local run just closed; when that fails for good, mark it
    failed (nothing runs it any more) and raise."""
    try:
        return retrying(lambda: store.queues.enqueue(task_id, queue),
                        max(deadline, time.monotonic() + 2.0))
    except Exception as exc:
        with contextlib.suppress(Exception):  # else the watchdog fails it as "process lost"
            store.tasks.change_status(task_id, StatusChange(
                status=TaskStatus.failed, reason="execute_remotely: could not enqueue",
                message=str(exc)))
        raise
