"""The background reporter: report calls append to a buffer, a thread sends batches.

The training thread only appends tuples to two deques (scalars and console/text lines).
The daemon thread ``tunehouse-reporter`` wakes every 50 ms and sends an
:class:`~tunehouse.store.records.EventBatch` when ``batch_size`` events wait, when
``interval`` seconds passed since the last send, or when a flush was requested.

Failure handling, in order of preference:

* the store is unreachable (or answers 401/503): the batch goes to the on-disk spool
  (:mod:`tunehouse.sdk.spool`) and the thread retries the oldest spooled batch with
  exponential backoff; while anything is spooled new batches are spooled behind it, so
  batches reach the store in the order they were made;
* the buffer holds ``max_buffered`` events (the thread cannot keep up): the reporting
  thread moves the oldest ``batch_size`` events to the spool itself (a few ms), never
  dropping and never waiting on the network;
* the store rejects a batch for good (a 4xx other than 401/503): the batch is kept in
  ``rejected/`` and the reason printed to stderr.

Each batch has a uuid4 ``batch_id`` that the store records, so a batch resent after an
unanswered request is stored once.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunehouse.sdk.spool import TaskSpool, batch_payload, is_retryable, to_event_batch

POLL_S = 0.05
MAX_BACKOFF_S = 5.0
FLUSH_BACKOFF_S = 1.0


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class Reporter:
    """Buffers events of one task and sends them from a named daemon thread.

    Args:
        store: The :class:`~tunehouse.store.base.Store` to send to.
        task_id: The task the events belong to.
        spool_root: ``settings.offline_spool``.
        warn: Prints one line for the user (must not go through captured stdout/stderr).
        batch_size: Most events (scalars or lines) per batch.
        interval: Most seconds an event waits before it is sent.
        max_buffered: Events kept in memory before the oldest are spilled to disk.
    """

    def __init__(self, store: Any, task_id: str, spool_root: Path,
                 warn: Callable[[str], None], batch_size: int = 10_000,
                 interval: float = 2.0, max_buffered: int = 200_000) -> None:
        self.store = store
        self.task_id = task_id
        self.warn = warn
        self.batch_size = batch_size
        self.interval = interval
        self.max_buffered = max_buffered
        self.scalars: deque[tuple[str, str, int, float, float]] = deque()
        self.logs: deque[tuple[str, str, float]] = deque()
        self.spool = TaskSpool(Path(spool_root), task_id)
        self.sent_batches = 0
        self.spooled_batches = 0
        self.rejected_batches = 0
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._flushing = 0
        self._stopping = False
        self._in_flight = False
        self._in_flight_payload: dict[str, Any] | None = None
        self._retry_at = 0.0
        self._failures = 0
        self._outage_warned = False
        if self.spool.folder.is_dir() and any(self.spool.folder.glob("*.json")):
            with self._lock:
                self.spool.open()
        self._thread = threading.Thread(target=self._run, name="tunehouse-reporter", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ producer side
    def add_log(self, stream: str, text: str) -> None:
        self.logs.append((stream, text, time.time()))
        if len(self.logs) >= self.max_buffered:
            self.spill()

    def spill(self) -> None:
        """Move the oldest events to the spool (called when the buffer is full)."""
        with self._lock:
            if len(self.scalars) + len(self.logs) < self.max_buffered:
                return
            payload = self._take_batch()
            if payload is not None:
                self.spool.write(payload)
                self.spooled_batches += 1
        self._wake.set()

    # ------------------------------------------------------------ control
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Send everything buffered or spooled; True when the store acknowledged it all.

        Returns False when ``timeout`` seconds passed first (what is left stays buffered
        and is retried, or spooled on :meth:`close`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            self._flushing += 1
        try:
            self._retry_at = min(self._retry_at, time.monotonic())
            self._wake.set()
            with self._state:
                while not self._drained():
                    if not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._state.wait(POLL_S if remaining is None else min(remaining, POLL_S))
            return True
        finally:
            with self._state:
                self._flushing -= 1

    def close(self, timeout: float = 30.0) -> bool:
        """Flush, stop the thread, and spool what could not be sent (never dropped).

        Returns True when everything reached the store.
        """
        complete = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=max(1.0, min(timeout, 10.0)))
        with self._lock:
            if self._thread.is_alive() and self._in_flight_payload is not None:
                # a request still hangs: keep a copy (a duplicate is stored only once)
                self.spool.write(self._in_flight_payload)
                self.spooled_batches += 1
            while self.scalars or self.logs:
                payload = self._take_batch()
                if payload is None:
                    break
                self.spool.write(payload)
                self.spooled_batches += 1
            left = len(self.spool.pending)
            self.spool.close()
        if left:
            self.warn(
                f"tunehouse: {left} batch(es) of task {self.task_id} could not be sent and "
                f"were kept in {self.spool.folder}; run `tunehouse sync` to upload them"
            )
        return complete and left == 0

    def pending_events(self) -> int:
        return len(self.scalars) + len(self.logs)

    # ------------------------------------------------------------ thread
    def _drained(self) -> bool:
        with self._lock:
            return not (self.scalars or self.logs or self.spool.pending or self._in_flight)

    def _run(self) -> None:
        last_send = time.monotonic()
        while True:
            self._wake.wait(POLL_S)
            self._wake.clear()
            if self._stopping:
                break
            try:
                now = time.monotonic()
                self._send_spooled(now)
                waiting = len(self.scalars) + len(self.logs)
                due = bool(waiting) and bool(
                    self._flushing
                    or waiting >= self.batch_size
                    or now - last_send >= self.interval
                )
                while due:
                    self._send_buffered()
                    last_send = time.monotonic()
                    due = bool(self.scalars or self.logs) and bool(
                        self._flushing or len(self.scalars) >= self.batch_size
                        or len(self.logs) >= self.batch_size
                    )
            except Exception as exc:  # never let the thread die silently
                self.warn(f"tunehouse: reporter error: {type(exc).__name__}: {exc}")
                time.sleep(POLL_S)
            finally:
                with self._state:
                    self._state.notify_all()

    def _take_batch(self) -> dict[str, Any] | None:
        scalars: list[tuple[Any, ...]] = []
        logs: list[tuple[Any, ...]] = []
        pop_scalar, pop_log = self.scalars.popleft, self.logs.popleft
        for _ in range(min(self.batch_size, len(self.scalars))):
            title, series, iteration, value, wall = pop_scalar()
            scalars.append((title, series, iteration, _finite_or_none(value), wall))
        for _ in range(min(self.batch_size, len(self.logs))):
            logs.append(pop_log())
        if not scalars and not logs:
            return None
        return batch_payload(uuid.uuid4().hex, self.task_id, scalars, logs)

    def _send_buffered(self) -> None:
        with self._lock:
            payload = self._take_batch()
            if payload is None:
                return
            if self.spool.pending:
                self.spool.write(payload)
                self.spooled_batches += 1
                return
            self._in_flight = True
            self._in_flight_payload = payload
        try:
            self._deliver(payload)
        finally:
            with self._lock:
                self._in_flight = False
                self._in_flight_payload = None

    def _deliver(self, payload: dict[str, Any]) -> None:
        try:
            self.store.events.add_events(to_event_batch(payload))
        except Exception as exc:
            with self._lock:
                path = self.spool.write(payload)
                self.spooled_batches += 1
                if is_retryable(exc):
                    self._note_failure(exc)
                else:
                    self._reject(path, exc)
            return
        self.sent_batches += 1
        self._note_success()

    def _send_spooled(self, now: float) -> None:
        while self.spool.pending and now >= self._retry_at:
            with self._lock:
                if not self.spool.pending:
                    return
                path = self.spool.pending[0]
                try:
                    payload = self.spool.read(path)
                except (OSError, ValueError) as exc:
                    self._reject(path, exc)
                    continue
            try:
                self.store.events.add_events(to_event_batch(payload))
            except Exception as exc:
                if is_retryable(exc):
                    self._note_failure(exc)
                    return
                with self._lock:
                    self._reject(path, exc)
                continue
            with self._lock:
                self.spool.done(path)
            self.sent_batches += 1
            self._note_success()
            now = time.monotonic()
            if self._stopping:
                return

    def _reject(self, path: Path, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        target = self.spool.reject(path, reason)
        self.rejected_batches += 1
        self.warn(f"tunehouse: a batch of task {self.task_id} was rejected ({reason}); "
                  f"kept in {target}")

    def _note_failure(self, exc: BaseException) -> None:
        self._failures += 1
        cap = FLUSH_BACKOFF_S if self._flushing else MAX_BACKOFF_S
        delay = min(cap, 0.25 * (2 ** min(self._failures - 1, 8)))
        self._retry_at = time.monotonic() + delay
        if not self._outage_warned:
            self._outage_warned = True
            self.warn(f"tunehouse: cannot reach the store ({exc}); spooling reports to "
                      f"{self.spool.folder} and retrying")

    def _note_success(self) -> None:
        if self._failures and self._outage_warned:
            self.warn("tunehouse: store reachable again; sending spooled reports")
        self._failures = 0
        self._outage_warned = False
        self._retry_at = 0.0
