"""Running a coroutine function from synchronous test code.

``anyio.run`` refuses to start when the calling thread already runs an event loop, and in
a test worker it may: Playwright's sync API (the browser tests) keeps one running in the
main thread for the rest of the session. :func:`run_async` runs the coroutine function in
an event loop of its own, in a thread of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


def run_async(func: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``await func(*args)`` in a new event loop on a new thread; its result, or its
    exception raised here."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = anyio.run(func, *args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-event-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
