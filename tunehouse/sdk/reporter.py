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
* the spool cannot be written (disk full, read-only, no permission): batches are held in
  memory, up to ``max_held_events`` events, and sent from there; beyond that the oldest
  held batches are dropped, and counted: :meth:`Reporter.close` and the task record (its
  status message and a ``:dropped:/reports`` scalar) say how many reports were lost and
  why. Nothing here raises into the training code;
* the store rejects a batch for good (a 4xx other than 401/503): when it refused the
  content (422) the batch is split in halves that are sent on their own, so its valid
  events are stored; what is refused in the end (a single bad event, or a batch of a task
  that is gone) is kept in ``rejected/`` and the reason printed to stderr.

Batches are bounded by events (``batch_size``) and by bytes (``max_batch_bytes``, well
under the server's request limit), and a console line longer than
:data:`~tunehouse.common.console_lines.CONSOLE_LINE_CHARS` is truncated with a marker, so
no line can sink the batch it travels in.

Each batch has a uuid4 ``batch_id`` that the store records, so a batch resent after an
unanswered request is stored once.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunehouse.common.console_lines import truncate_line
from tunehouse.sdk.spool import (
    TaskSpool,
    batch_payload,
    event_count,
    is_content_problem,
    is_retryable,
    split_payload,
    to_event_batch,
)
from tunehouse.store.base import Store
from tunehouse.store.records import ALIVE_INTERVAL_S

#: How often the reporter thread looks at its buffer (and a flush at its progress).
BUFFER_POLL_S = 0.05
MAX_BATCH_BYTES = 8 << 20
MAX_HELD_EVENTS = 1_000_000
#: Bytes an event costs in a JSON batch besides its strings (numbers, brackets, commas).
EVENT_OVERHEAD_BYTES = 48
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
        max_batch_bytes: Most bytes (estimated) per batch.
        max_held_events: Events held in memory while the spool cannot be written.
    """

    def __init__(self, store: Store, task_id: str, spool_root: Path,
                 warn: Callable[[str], None], batch_size: int = 10_000,
                 interval: float = 2.0, max_buffered: int = 200_000,
                 max_batch_bytes: int = MAX_BATCH_BYTES,
                 max_held_events: int = MAX_HELD_EVENTS) -> None:
        self.store = store
        self.task_id = task_id
        self.warn = warn
        self.batch_size = batch_size
        self.interval = interval
        self.max_buffered = max_buffered
        self.max_batch_bytes = max_batch_bytes
        self.max_held_events = max_held_events
        self.held: deque[dict[str, Any]] = deque()
        self.held_events = 0
        self.dropped_events = 0
        self.drop_reason = ""
        self._last_contact = time.monotonic()
        self.scalars: deque[tuple[str, str, int, float, float]] = deque()
        self.logs: deque[tuple[str, str, float]] = deque()
        self.spool = TaskSpool(Path(spool_root), task_id)
        self.sent_batches = 0
        #: Events the store acknowledged (stored, or found stored already).
        self.acknowledged_events = 0
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
        self.logs.append((stream, truncate_line(text), time.time()))
        if len(self.logs) >= self.max_buffered:
            self.spill()

    def spill(self) -> None:
        """Move the oldest events to the spool (called when the buffer is full). Never
        raises: what cannot be kept is counted in :attr:`dropped_events`."""
        try:
            with self._lock:
                if len(self.scalars) + len(self.logs) < self.max_buffered:
                    return
                payload = self._take_batch()
                if payload is not None:
                    self._keep(payload)
        except Exception as exc:  # reporting must never break training
            self._count_dropped(self.batch_size, f"{type(exc).__name__}: {exc}")
        self._wake.set()

    @property
    def lost_reports(self) -> str:
        """One line on reports lost for good (empty when none were)."""
        if not self.dropped_events:
            return ""
        return (f"{self.dropped_events} report(s) of task {self.task_id} were lost: "
                f"{self.drop_reason}")

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
                    self._state.wait(BUFFER_POLL_S if remaining is None
                                     else min(remaining, BUFFER_POLL_S))
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
                self._keep(self._in_flight_payload)
            while self.scalars or self.logs:
                payload = self._take_batch()
                if payload is None:
                    break
                self._keep(payload)
            while self.held:  # last chance for what the spool could not take
                payload = self._unhold()
                try:
                    self.spool.write(payload)
                except OSError as exc:
                    self._count_dropped(event_count(payload), _spool_problem(exc))
            left = len(self.spool.pending)
            self.spool.close()
        if left:
            self.warn(
                f"tunehouse: {left} batch(es) of task {self.task_id} could not be sent and "
                f"were kept in {self.spool.folder}; run `tunehouse sync` to upload them"
            )
        if self.dropped_events:
            self.warn(f"tunehouse: {self.lost_reports}")
        return complete and left == 0 and not self.dropped_events

    def pending_events(self) -> int:
        return len(self.scalars) + len(self.logs)

    # ------------------------------------------------------------ thread
    def _drained(self) -> bool:
        with self._lock:
            return not (self.scalars or self.logs or self.spool.pending or self.held
                        or self._in_flight)

    def _beat(self, now: float) -> None:
        """Mark the task alive when nothing reached the store for ``ALIVE_INTERVAL_S``
        (the server's watchdog fails tasks whose process shows no life)."""
        if now - self._last_contact < ALIVE_INTERVAL_S:
            return
        self._last_contact = now
        with contextlib.suppress(Exception):  # the next report or beat tries again
            self.store.tasks.mark_alive(self.task_id)

    def _run(self) -> None:
        last_send = time.monotonic()
        while True:
            self._wake.wait(BUFFER_POLL_S)
            self._wake.clear()
            if self._stopping:
                break
            try:
                now = time.monotonic()
                self._send_spooled(now)
                self._send_held(time.monotonic())
                self._beat(time.monotonic())
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
                time.sleep(BUFFER_POLL_S)
            finally:
                with self._state:
                    self._state.notify_all()

    def _take_batch(self) -> dict[str, Any] | None:
        """The oldest events, at most ``batch_size`` of each kind and about
        ``max_batch_bytes`` in all (at least one event)."""
        scalars: list[tuple[Any, ...]] = []
        logs: list[tuple[Any, ...]] = []
        budget = self.max_batch_bytes
        pop_scalar, pop_log = self.scalars.popleft, self.logs.popleft
        for _ in range(min(self.batch_size, len(self.logs))):
            size = len(self.logs[0][1]) * 2 + EVENT_OVERHEAD_BYTES  # escapes, UTF-8
            if logs and size > budget:
                break
            budget -= size
            logs.append(pop_log())
        for _ in range(min(self.batch_size, len(self.scalars))):
            title, series, iteration, value, wall = self.scalars[0]
            size = len(title) + len(series) + EVENT_OVERHEAD_BYTES
            if (scalars or logs) and size > budget:
                break
            budget -= size
            pop_scalar()
            scalars.append((title, series, iteration, _finite_or_none(value), wall))
        if not scalars and not logs:
            return None
        return batch_payload(uuid.uuid4().hex, self.task_id, scalars, logs)

    def _send_buffered(self) -> None:
        with self._lock:
            payload = self._take_batch()
            if payload is None:
                return
            if self.spool.pending or self.held:
                self._keep(payload)  # behind what waits already, to keep the order
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
                if is_retryable(exc):
                    self._keep(payload)
                    self._note_failure(exc)
                else:
                    self._refused(payload, exc)
            return
        self._acknowledged(payload)

    def _acknowledged(self, payload: dict[str, Any]) -> None:
        self.acknowledged_events += event_count(payload)
        self.sent_batches += 1
        self._note_success()

    def _keep(self, payload: dict[str, Any]) -> None:
        """Keep an unsent batch for later: in the spool, or in memory while the spool
        cannot be written (then behind what memory holds already, to keep the order)."""
        if not self.held:
            try:
                self.spool.write(payload)
                self.spooled_batches += 1
                return
            except OSError as exc:
                self.drop_reason = _spool_problem(exc)
                self.warn(f"tunehouse: cannot write the spool {self.spool.folder} "
                          f"({self.drop_reason}); holding up to {self.max_held_events} "
                          "reports in memory")
        self._hold(payload)
        while self.held_events > self.max_held_events and len(self.held) > 1:
            self._count_dropped(event_count(self._unhold()), self.drop_reason
                                or "too many reports held in memory")

    def _hold(self, payload: dict[str, Any], first: bool = False) -> None:
        """Hold a batch in memory, behind the others (or before them, ``first``)."""
        if first:
            self.held.appendleft(payload)
        else:
            self.held.append(payload)
        self.held_events += event_count(payload)

    def _unhold(self) -> dict[str, Any]:
        """Take the oldest batch held in memory."""
        payload = self.held.popleft()
        self.held_events -= event_count(payload)
        return payload

    def _count_dropped(self, events: int, reason: str) -> None:
        self.dropped_events += events
        self.drop_reason = reason

    def _refused(self, payload: dict[str, Any], exc: BaseException) -> None:
        """The store refused ``payload`` for good: send its halves on their own (before
        anything newer), so that its valid events are stored."""
        halves = split_payload(payload) if is_content_problem(exc) else []
        if not halves:
            try:
                path = self.spool.write(payload)
            except OSError as problem:
                self._count_dropped(1, f"refused by the store ({exc}), and "
                                       f"{_spool_problem(problem)}")
                return
            self._reject(path, exc)
            return
        for half in reversed(halves):
            self._hold(half, first=True)

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
                    self._reject(path, exc)  # splits it in the spool when it can
                continue
            with self._lock:
                self.spool.done(path)
            self._acknowledged(payload)
            now = time.monotonic()
            if self._stopping:
                return

    def _send_held(self, now: float) -> None:
        """Send the batches held in memory (the spool could not take them), oldest first."""
        while self.held and not self.spool.pending and now >= self._retry_at:
            with self._lock:
                if not self.held:
                    return
                payload = self.held[0]
            try:
                self.store.events.add_events(to_event_batch(payload))
            except Exception as exc:
                with self._lock:
                    if is_retryable(exc):
                        self._note_failure(exc)
                        return
                    self._unhold()
                    self._refused(payload, exc)
                continue
            with self._lock:
                if self.held and self.held[0] is payload:
                    self._unhold()
            self._acknowledged(payload)
            now = time.monotonic()
            if self._stopping:
                return

    def _reject(self, path: Path, exc: BaseException) -> None:
        """A spooled batch the store refused for good: split in the spool when it holds
        several events, else moved to ``rejected/``."""
        if is_content_problem(exc) and self.spool.split(path):
            return
        reason = f"{type(exc).__name__}: {exc}"
        target = self.spool.reject(path, reason)
        self.rejected_batches += 1
        self.warn(f"tunehouse: a report of task {self.task_id} was rejected ({reason}); "
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
        self._last_contact = time.monotonic()
        if self._failures and self._outage_warned:
            self.warn("tunehouse: store reachable again; sending spooled reports")
        self._failures = 0
        self._outage_warned = False
        self._retry_at = 0.0


def _spool_problem(exc: OSError) -> str:
    return f"the spool cannot be written: {exc.strerror or exc}"
