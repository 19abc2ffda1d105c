"""The server's watchdog: a thread that repairs what dead processes leave behind.

Every ``interval`` seconds it runs the store's reaping pass
(:meth:`~tunehouse.store.interfaces.TaskStore.reap_lost_tasks`): a running task without an
agent whose process showed no life for ``lost_after_s`` (``TUNEHOUSE_TASK_LOST_AFTER``,
default 5 minutes) becomes ``failed`` with reason "process lost: no sign of life since
...", and one whose abort was requested becomes ``aborted`` once quiet. The pass is one
transaction per task and safe to run from several server processes at once. Agent
leases (issue 9) will be expired by the same thread.
"""

from __future__ import annotations

import logging
import threading

from tunehouse.store.base import Store

log = logging.getLogger("tunehouse.server.watchdog")


class Watchdog:
    """Runs the reaping pass on ``store`` every ``interval`` seconds until stopped."""

    def __init__(self, store: Store, lost_after_s: float, interval: float | None = None) -> None:
        self.store = store
        self.lost_after_s = lost_after_s
        self.interval = interval or min(15.0, max(0.5, lost_after_s / 4))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tunehouse-watchdog",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_once(self) -> int:
        """One pass; returns how many tasks it changed."""
        reaped = self.store.tasks.reap_lost_tasks(self.lost_after_s)
        for task in reaped:
            log.warning("task %s (%s) is now %s: %s", task.id, task.name, task.status.value,
                        task.status_reason)
        return len(reaped)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # the database may be away for a while: try again later
                log.exception("watchdog pass failed")
