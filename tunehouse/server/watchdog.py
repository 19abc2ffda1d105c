"""The server's watchdog: a thread that repairs what dead processes leave behind.

Every ``interval`` seconds it runs the store's reaping pass
(:meth:`~tunehouse.store.interfaces.TaskStore.reap_lost_tasks`): a running task without an
agent whose process showed no life for ``lost_after_s`` (``TUNEHOUSE_TASK_LOST_AFTER``,
default 5 minutes) becomes ``failed`` with reason "process lost: no sign of life since
...", and one whose abort was requested becomes ``aborted`` once quiet. The pass is one
transaction per task and safe to run from several server processes at once.

Every :data:`LEASE_CHECK_S` it also expires agent leases
(:meth:`~tunehouse.store.interfaces.QueueStore.reap_expired_leases`): a task whose agent
stopped renewing its lease goes back to its queue while retries remain
(``TUNEHOUSE_WORKER_LOST_RETRIES``), else fails with "worker lost"; silent workers leave
the list.

Every :data:`CLEANUP_S` it runs the cleanups the server added (:meth:`Watchdog.add_cleanup`):
deleting ended web sessions and stale sign-in counters, one indexed delete each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tunehouse.store.base import Store
from tunehouse.store.records import Task

log = logging.getLogger("tunehouse.server.watchdog")

#: How often expired leases are looked for (one indexed query when there are none).
LEASE_CHECK_S = 1.0
#: How often the cleanups run (ended sessions, stale sign-in counters).
CLEANUP_S = 60.0


class Watchdog:
    """Runs the reaping passes on ``store`` until stopped: lost tasks every ``interval``
    seconds, expired leases every :data:`LEASE_CHECK_S`."""

    def __init__(self, store: Store, lost_after_s: float, interval: float | None = None,
                 lost_worker_retries: int = 2) -> None:
        self.store = store
        self.lost_after_s = lost_after_s
        self.lost_worker_retries = lost_worker_retries
        self.interval = interval or min(15.0, max(0.5, lost_after_s / 4))
        self.cleanups: list[tuple[str, Callable[[], int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tunehouse-watchdog",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def add_cleanup(self, what: str, cleanup: Callable[[], int]) -> None:
        """Run ``cleanup`` (returning how many ``what`` it deleted) every :data:`CLEANUP_S`."""
        self.cleanups.append((what, cleanup))

    def run_cleanups(self) -> int:
        """Run every cleanup once (a failing one is logged); how many rows they deleted."""
        total = 0
        for what, cleanup in self.cleanups:
            try:
                done = cleanup()
            except Exception:  # the database may be away for a while: try again later
                log.exception("watchdog cleanup of %s failed", what)
                continue
            if done:
                log.info("watchdog deleted %d %s", done, what)
            total += done
        return total

    def run_once(self) -> int:
        """One pass of both kinds; returns how many tasks it changed."""
        return self._reap_leases() + self._reap_lost()

    def _reap_lost(self) -> int:
        return _logged(self.store.tasks.reap_lost_tasks(self.lost_after_s))

    def _reap_leases(self) -> int:
        return _logged(self.store.queues.reap_expired_leases(self.lost_worker_retries))

    def _run(self) -> None:
        next_lost = time.monotonic() + self.interval
        next_cleanup = time.monotonic() + CLEANUP_S
        while not self._stop.wait(min(LEASE_CHECK_S, self.interval)):
            try:
                self._reap_leases()
                if time.monotonic() >= next_lost:
                    next_lost = time.monotonic() + self.interval
                    self._reap_lost()
            except Exception:  # the database may be away for a while: try again later
                log.exception("watchdog pass failed")
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + CLEANUP_S
                self.run_cleanups()


def _logged(reaped: list[Task]) -> int:
    for task in reaped:
        log.warning("task %s (%s) is now %s: %s", task.id, task.name, task.status.value,
                    task.status_reason)
    return len(reaped)
