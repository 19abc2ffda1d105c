"""Console capture at the file-descriptor level.

File descriptors 1 and 2 are pointed at pipes; a named thread per stream
(``tunehouse-console-stdout`` / ``-stderr``) reads its pipe, writes everything on to the
original descriptor (so the user still sees it) and hands complete lines to a sink.
Output of C extensions that write to the descriptors directly is captured too.
:meth:`ConsoleCapture.stop` flushes Python's buffers, puts the original descriptors back
and drains the pipes; nothing of this is ever done with ``fork``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable

from tunehouse.common.console_lines import CONSOLE_LINE_CHARS, truncate_line

READ_SIZE = 65536
DRAIN_TIMEOUT_S = 2.0

LineSink = Callable[[str, str], None]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except InterruptedError:
            continue
        except OSError:
            return


def _final_text(line: str, cut: int = 0) -> str:
    """What a terminal would show for a line rewritten with ``\\r`` (progress bars), at most
    :data:`~tunehouse.common.console_lines.CONSOLE_LINE_CHARS` of it; ``cut`` characters
    were dropped from it already. A shortened line ends with a marker saying how much is
    missing."""
    if "\r" in line:
        parts = [part for part in line.split("\r") if part]
        line = parts[-1] if parts else ""
    return truncate_line(line.replace("\b", ""), cut=cut)


class _StreamTee:
    def __init__(self, fd: int, stream: str, sink: LineSink) -> None:
        self.fd = fd
        self.stream = stream
        self.sink = sink
        self.saved_fd = os.dup(fd)
        read_fd, write_fd = os.pipe()
        self.read_fd = read_fd
        os.set_inheritable(self.saved_fd, False)
        os.dup2(write_fd, fd)
        os.close(write_fd)
        self._pending = ""
        self._cut = 0  # characters of the pending line dropped already (too long)
        self.thread = threading.Thread(
            target=self._pump, name=f"tunehouse-console-{stream}", daemon=True
        )
        self.thread.start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self.read_fd, READ_SIZE)
            except InterruptedError:
                continue
            except OSError:
                break
            if not chunk:
                break
            _write_all(self.saved_fd, chunk)
            with contextlib.suppress(Exception):  # the output must flow whatever happens
                self._feed(chunk.decode("utf-8", errors="replace"))
        if self._pending:
            self._emit(self._pending, self._cut)
            self._pending = ""

    def _feed(self, text: str) -> None:
        text = self._pending + text
        lines = text.split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._emit(line, self._cut)
            self._cut = 0
        if len(self._pending) > CONSOLE_LINE_CHARS * 4:
            # a line without end in sight: keep its start, count the rest until "\n"
            self._cut += len(self._pending) - CONSOLE_LINE_CHARS
            self._pending = self._pending[:CONSOLE_LINE_CHARS]

    def _emit(self, line: str, cut: int = 0) -> None:
        text = _final_text(line.rstrip("\r"), cut)
        if text:
            with contextlib.suppress(Exception):  # the sink must never break the output
                self.sink(self.stream, text)

    def restore(self, timeout: float) -> None:
        os.dup2(self.saved_fd, self.fd)
        self.thread.join(timeout)
        if self.thread.is_alive():  # a child process still holds the pipe
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
        else:
            os.close(self.read_fd)
        self.thread.join(0.1)
        os.close(self.saved_fd)

    def write_original(self, text: str) -> None:
        _write_all(self.saved_fd, text.encode("utf-8", errors="replace"))


class ConsoleCapture:
    """Tee stdout and stderr (descriptors 1 and 2) into ``sink(stream, line)``."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self._tees: list[_StreamTee] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        _flush_python_streams()
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            try:
                os.fstat(fd)
            except OSError:
                continue
            self._tees.append(_StreamTee(fd, stream, self._sink))

    @property
    def active(self) -> bool:
        return bool(self._tees)

    def write_stderr(self, text: str) -> None:
        """Write to the real stderr without capturing it (for tunehouse's own notes)."""
        for tee in self._tees:
            if tee.stream == "stderr":
                tee.write_original(text)
                return
        sys.stderr.write(text)

    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        with self._lock:
            if not self._tees:
                return
            _flush_python_streams()
            deadline = time.monotonic() + timeout
            tees, self._tees = self._tees, []
            for tee in tees:
                tee.restore(max(0.1, deadline - time.monotonic()))


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
