"""Streaming a task's stdout and stderr into its console, live, in batches.

One reader thread per pipe splits lines; a sender thread posts them every
:data:`FLUSH_S` (or every :data:`BATCH_LINES` lines) as one event batch with an id made of
the task, the attempt and a counter, so a batch resent after a lost answer is stored once.
Lines are cut at the one console line limit (:mod:`tunehouse.common.console_lines`). The last lines are kept for the failure reason.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import IO

from tunehouse.common.console_lines import truncate_line
from tunehouse.common.retry import retrying
from tunehouse.errors import ServerUnavailable, StaleAttempt, StorageUnavailable
from tunehouse.store.base import Store
from tunehouse.store.records import EventBatch, LogEvent

log = logging.getLogger("tunehouse.agent")

FLUSH_S = 0.5
BATCH_LINES = 2000
TAIL_LINES = 20
#: How long a batch is retried while the server is unreachable before lines are dropped.
RETRY_FOR_S = 300.0


class ConsoleStream:
    """Collects the lines of one attempt and sends them to ``store`` (a fenced view)."""

    def __init__(self, store: Store, task_id: str, attempt: int) -> None:
        self._store = store
        self._task_id = task_id
        self._prefix = f"{task_id}.a{attempt}.console"
        self._pending: list[LogEvent] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._batches = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        #: The last stderr line that is not blank (what a failure usually says).
        self.last_error = ""
        #: Set when the server refused a write because the attempt is over.
        self.stale = threading.Event()
        self.dropped = 0
        self._readers: list[threading.Thread] = []
        self._sender = threading.Thread(target=self._send_loop, daemon=True,
                                        name=f"agent-console-{task_id[:8]}")
        self._sender.start()

    def add(self, stream: str, text: str) -> None:
        """One line (without its newline)."""
        text = truncate_line(text)
        with self._lock:
            self._pending.append(LogEvent(stream, text, time.time()))
            self.tail.append(text)
            if stream == "stderr" and text.strip():
                self.last_error = text
            full = len(self._pending) >= BATCH_LINES
        if full:
            self._wake.set()

    def follow(self, pipe: IO[bytes], stream: str) -> None:
        """Read ``pipe`` line by line in a thread until it closes."""
        def read() -> None:
            with pipe:
                for raw in iter(pipe.readline, b""):
                    self.add(stream, raw.decode("utf-8", errors="replace").rstrip("\r\n"))

        reader = threading.Thread(target=read, daemon=True,
                                  name=f"agent-{stream}-{self._task_id[:8]}")
        reader.start()
        self._readers.append(reader)

    def close(self, timeout: float = 30.0) -> None:
        """Wait for the pipes to close and everything to be sent (up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.1, deadline - time.monotonic()))
        self._closing = True
        self._wake.set()
        self._sender.join(max(0.1, deadline - time.monotonic()))

    def _send_loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            closing = self._closing
            while True:
                with self._lock:
                    lines, self._pending = self._pending[:BATCH_LINES], \
                        self._pending[BATCH_LINES:]
                if not lines:
                    break
                self._send(lines)
            if closing:
                return

    def _send(self, lines: list[LogEvent]) -> None:
        if self.stale.is_set():
            self.dropped += len(lines)
            return
        self._batches += 1
        batch = EventBatch(batch_id=f"{self._prefix}.{self._batches}", task_id=self._task_id,
                           logs=lines)
        try:
            retrying(lambda: self._store.events.add_events(batch),
                     time.monotonic() + RETRY_FOR_S, retry_on=_unreachable)
        except StaleAttempt:
            self.stale.set()
            self.dropped += len(lines)
        except Exception as exc:
            log.error("console of task %s: %d line(s) %s: %s", self._task_id, len(lines),
                      "dropped" if _unreachable(exc) else "refused", exc)
            self.dropped += len(lines)


def _unreachable(exc: BaseException) -> bool:
    """Worth sending again: the server or its storage is away for now."""
    return isinstance(exc, ServerUnavailable | StorageUnavailable)
