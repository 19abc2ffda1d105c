"""Waiting in tests: the one deadline loop.

``wait_until(predicate, timeout, what)`` calls ``predicate`` until it returns something
truthy and returns that, or fails with an AssertionError that says what never happened
(and, when given, what was last seen). ``wait_for_file`` is the same for a file another
process writes, failing at once when that process exits first.

Tests and benchmarks use these instead of hand-written ``deadline = time.monotonic() + ...``
loops, so every wait has a timeout and a message.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two calls of the predicate.
INTERVAL_S = 0.05


def wait_until(predicate: Callable[[], T], timeout: float, what: str, *,
               interval: float = INTERVAL_S, check: Callable[[], None] | None = None,
               seen: Callable[[], object] | None = None) -> T:
    """The first truthy value of ``predicate()``, polled every ``interval`` seconds.

    Args:
        predicate: Called until it returns a truthy value (which is returned).
        timeout: Seconds before giving up.
        what: What is awaited, for the failure message ("task t1 completed").
        interval: Seconds between calls.
        check: Called after each falsy try; raises AssertionError to stop waiting at once
            (a process that exited, a server that died).
        seen: Called on timeout; its value is added to the message (the last status).

    Raises:
        AssertionError: ``predicate`` stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if check is not None:
            try:
                check()
            except AssertionError:
                value = predicate()  # it may have happened just before the check failed
                if value:
                    return value
                raise
        if time.monotonic() >= deadline:
            last = f" (last seen: {seen()!r})" if seen is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{last}")
        time.sleep(interval)


def exited_check(proc: subprocess.Popen[str] | subprocess.Popen[bytes],
                 name: str = "process") -> Callable[[], None]:
    """A ``check`` for :func:`wait_until` that fails once ``proc`` has exited, with its
    output when it was started with pipes."""

    def check() -> None:
        if proc.poll() is None:
            return
        output = ""
        if proc.stdout is not None or proc.stderr is not None:
            out, err = proc.communicate()
            output = f":\n{out!s}\n{err!s}"
        raise AssertionError(f"{name} exited with {proc.returncode} while waited on{output}")

    return check


def wait_for_file(path: Path, timeout: float = 60, *,
                  proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
                  nonempty: bool = False) -> Path:
    """``path`` once it exists (``nonempty``: and has content). With ``proc``, fail as
    soon as that process exits without writing it (and kill it on timeout)."""

    def present() -> bool:
        return path.exists() and (not nonempty or path.stat().st_size > 0)

    check = exited_check(proc, "the process writing it") if proc is not None else None
    try:
        wait_until(present, timeout, f"{path}" + (" with content" if nonempty else ""),
                   check=check)
    except AssertionError:
        if proc is not None and proc.poll() is None:
            proc.kill()
        raise
    return path
