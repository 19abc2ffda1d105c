"""The one exception hierarchy of tunehouse.

Every error that crosses a boundary (store, server, HTTP client, SDK, CLI) is a
``TunehouseError``. Each class carries the HTTP ``status`` the server answers with and a
stable ``code`` that travels in the JSON body, so the HTTP client raises the very same
class on the other side::

    TunehouseError (500, "internal")
    ├── InvalidInput (422, "invalid")              bad parameters, bodies, search spaces, paths
    ├── AuthenticationFailed (401, "unauthenticated")
    │   └── TooManyAttempts (429, "too_many_attempts")  sign-ins or key checks throttled
    ├── PermissionDenied (403, "forbidden")
    ├── NotFound (404, "not_found")
    ├── Conflict (409, "conflict")
    │   └── InvalidTransition (409, "invalid_transition")   task status machine
    ├── PayloadTooLarge (413, "payload_too_large")
    ├── SchemaOutOfDate (503, "schema_out_of_date")  database needs `tunehouse db upgrade`
    ├── StorageFull (507, "storage_full")            the database's or the blobs' disk is full
    ├── StorageUnavailable (503, "storage_unavailable")  storage read-only or unreachable
    └── ServerUnavailable (503, "unavailable")       the server could not be reached

The server maps these in one handler (``tunehouse.server.errors``); the body is
``{"error": {"code": ..., "message": ..., "detail": ...}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TunehouseError(Exception):
    """Root of every tunehouse error.

    Args:
        message: Human-readable explanation naming the offending input.
        detail: Optional JSON-serialisable data (for example the failing field).
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the server sends for this error."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return {"error": body}


class InvalidInput(TunehouseError):
    """A request, parameter, search space or path is not acceptable."""

    status = 422
    code = "invalid"


class AuthenticationFailed(TunehouseError):
    """Missing, wrong, revoked or disabled credentials."""

    status = 401
    code = "unauthenticated"


class TooManyAttempts(AuthenticationFailed):
    """Too many failed sign-ins or API-key checks for a user, a key or from an address:
    the attempt was refused without checking the credentials. ``retry_after``: seconds to
    wait before the next attempt (the ``Retry-After`` header of the answer); it travels in
    ``detail`` too, so the HTTP client's exception has it.

    A subclass of :class:`AuthenticationFailed`, so code that keeps work for later on a
    failed sign-in (the SDK's spool) treats it alike; never retry it at once.
    """

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, detail: Any = None, retry_after: int | None = None) -> None:
        if retry_after is None and isinstance(detail, dict):
            found = detail.get("retry_after")
            retry_after = int(found) if isinstance(found, int | float) else None
        if retry_after is not None:
            retry_after = max(1, int(retry_after))
            detail = {**(detail if isinstance(detail, dict) else {}),
                      "retry_after": retry_after}
        super().__init__(message, detail)
        self.retry_after = retry_after


class PermissionDenied(TunehouseError):
    """Authenticated, but not allowed to do this (for example a non-admin managing users)."""

    status = 403
    code = "forbidden"


class NotFound(TunehouseError):
    """The named record does not exist."""

    status = 404
    code = "not_found"


class Conflict(TunehouseError):
    """The request clashes with the current state (duplicate name, published model, ...)."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A task status change the status machine does not allow."""

    code = "invalid_transition"


class StaleAttempt(Conflict):
    """A write made for an attempt of a task that is over (its lease was lost, the task
    went back to its queue, ended or runs again): the writer must stop."""

    code = "stale_attempt"


class PayloadTooLarge(TunehouseError):
    """The request body is over the server's limit."""

    status = 413
    code = "payload_too_large"


class SchemaOutOfDate(TunehouseError):
    """The database schema is older (or newer) than this version of tunehouse expects."""

    status = 503
    code = "schema_out_of_date"


class StorageFull(TunehouseError):
    """The disk holding the database or the blobs is full: nothing was stored."""

    status = 507
    code = "storage_full"


class StorageUnavailable(TunehouseError):
    """The database or the blob storage cannot be written (read-only, no permission) or
    reached: nothing was stored."""

    status = 503
    code = "storage_unavailable"


class ServerUnavailable(TunehouseError):
    """The tracking server could not be reached (connection refused, timeout, 5xx)."""

    status = 503
    code = "unavailable"


def _all_subclasses(cls: type[TunehouseError]) -> list[type[TunehouseError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_class_for(code: str, status: int) -> type[TunehouseError]:
    """The exception class for an error ``code`` from a server response.

    Falls back on the class whose status matches, then on ``TunehouseError``.
    """
    classes = _all_subclasses(TunehouseError)
    for cls in classes:
        if cls.code == code:
            return cls
    for cls in classes:
        if cls.status == status and cls.__subclasses__() == [] and cls is not ServerUnavailable:
            return cls
    for cls in classes[1:]:  # a status whose class has subclasses (401: AuthenticationFailed)
        if cls.status == status and cls is not ServerUnavailable:
            return cls
    return TunehouseError
