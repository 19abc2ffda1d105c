"""Calling the store again after a failure that may pass: ``retrying`` and its default rule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tunehouse.errors import (
    AuthenticationFailed,
    SchemaOutOfDate,
    ServerUnavailable,
    TunehouseError,
)

R = TypeVar("R")

#: Errors after which the same call may pass later.
RETRYABLE = (ServerUnavailable, AuthenticationFailed, SchemaOutOfDate)


def is_retryable(exc: BaseException) -> bool:
    """True for failures that may pass later (server down, 401, 503, unexpected errors)."""
    if isinstance(exc, RETRYABLE):
        return True
    return not isinstance(exc, TunehouseError) or exc.status >= 500


def retrying(call: Callable[[], R], deadline: float,
             retry_on: Callable[[BaseException], bool] = is_retryable) -> R:
    """``call()``, retried with backoff on errors ``retry_on`` accepts (by default the
    retryable ones) until ``deadline`` (``time.monotonic()``); the last error is raised."""
    delay = 0.25
    while True:
        try:
            return call()
        except Exception as exc:
            if not retry_on(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
