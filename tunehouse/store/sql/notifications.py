"""Changes made by other processes, announced by PostgreSQL (``LISTEN``/``NOTIFY``).

A write transaction that puts a task in a queue sends ``NOTIFY tunehouse_queue``; one that
changes a task with a parent (its status, an abort request, stored events, an update, a
new child) sends ``tunehouse_children`` with the parent's id. PostgreSQL delivers them at
commit to every connection listening, whichever server process made the change.

Each store that waits for changes (a claim's long poll, a search controller waiting for
its children) starts one :class:`Listener` on first need: a thread holding a connection of
its own that listens to both channels and wakes the waiters of this process through the
store's :class:`~tunehouse.store.sql.database.ChangeSignal` s. The waiters still read the
database now and then (:data:`SAFETY_POLL_S`) in case a notification was lost with the
connection; while the listener is down (connecting, PostgreSQL restarting) they poll as
often as without it. SQLite has no notifications: its waiters are woken by the writes of
their own process and poll for the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("tunehouse.store")

QUEUE_CHANNEL = "tunehouse_queue"
CHILDREN_CHANNEL = "tunehouse_children"
#: How often a waiter reads the database while the listener is live (lost notifications).
SAFETY_POLL_S = 5.0
#: ``application_name`` of the listener's connection (``pg_stat_activity``).
APPLICATION_NAME = "tunehouse-listener"
#: Between attempts to connect the listener again.
RECONNECT_S = 1.0


def announce(conn: Connection, queue_changed: bool, parents: Iterable[str]) -> None:
    """Send the notifications of a PostgreSQL write transaction (delivered at commit)."""
    if queue_changed:
        conn.exec_driver_sql(f"NOTIFY {QUEUE_CHANNEL}")
    for parent in sorted(set(parents)):
        conn.exec_driver_sql("SELECT pg_notify(%(channel)s, %(parent)s)",
                             {"channel": CHILDREN_CHANNEL, "parent": parent})


class Listener:
    """Listens to the channels for one store and calls ``wake[channel]()`` on each
    notification (see the module doc)."""

    def __init__(self, engine: Engine, wake: dict[str, Callable[[], None]]) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._wake = wake
        self._live = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> bool:
        """Whether notifications are arriving now (connected and listening)."""
        return self._live.is_set()

    def start(self, wait_s: float = 2.0) -> bool:
        """Start listening (once: the call that starts it waits up to ``wait_s`` for the
        connection; later calls do not wait, so a waiter polls at its own pace while the
        listener reconnects). Returns :attr:`live`."""
        with self._lock:
            starting = self._thread is None and not self._closed.is_set()
            if starting:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="tunehouse-pg-listener")
                self._thread.start()
        if starting:
            self._live.wait(wait_s)
        return self.live

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5.0)

    def _run(self) -> None:
        import psycopg

        while not self._closed.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10,
                                     application_name=APPLICATION_NAME) as conn:
                    for channel in self._wake:
                        conn.execute(f"LISTEN {channel}")
                    self._live.set()
                    self._wake_all()  # what was missed while away
                    self._deliver(conn)
            except psycopg.Error as exc:
                if self._live.is_set():
                    log.warning("notifications from PostgreSQL stopped: %s; waiting calls "
                                "poll until they are back", exc)
            finally:
                self._live.clear()
            self._closed.wait(RECONNECT_S)

    def _deliver(self, conn: Any) -> None:
        while not self._closed.is_set():
            for note in conn.notifies(timeout=1.0):
                wake = self._wake.get(note.channel)
                if wake is not None:
                    wake()

    def _wake_all(self) -> None:
        for wake in self._wake.values():
            wake()
