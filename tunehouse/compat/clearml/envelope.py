"""ClearML's response envelope and the errors that answer in it.

Every answer of the ClearML API, errors included, is
``{"meta": {"id", "trx", "endpoint": {"name", "requested_version", "actual_version"},
"result_code", "result_subcode", "result_msg", "error_stack"}, "data": {...}}``: the
SDK retries forever on an answer without ``meta`` or on an error without
``meta.endpoint.name``, and forever on 502/503/504, so no error here is answered with
those codes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tunehouse.errors import TunehouseError

#: The API version the login token announces: ClearML server 2.x serves 2.31; the SDK
#: (2.1.x) picks its newest request classes at or below it (v2_23).
API_VERSION = "2.31"
#: The ClearML server version the token announces (the SDK shows it, gates nothing on it).
SERVER_VERSION = "2.0.0"

#: Statuses the SDK retries forever: never answered, an internal error is a 500 instead.
_RETRIED = frozenset({502, 503, 504, 509})


class ApiError(Exception):
    """An error answered in the envelope with HTTP ``code`` (4xx, or 500) and ClearML's
    ``subcode`` (0 where ClearML has no specific one)."""

    def __init__(self, code: int, message: str, subcode: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.message = message


def bad_request(message: str) -> ApiError:
    """A 400: the request's body or a field of it is wrong (``message`` names it)."""
    return ApiError(400, message)


def from_tunehouse(exc: TunehouseError) -> ApiError:
    """The envelope error for a store error: its own 4xx; anything 5xx becomes a 500
    (a 503 would make the SDK retry forever)."""
    status = exc.status if exc.status < 500 or exc.status not in _RETRIED else 500
    if status == 422:
        status = 400  # ClearML answers invalid input with 400
    return ApiError(status, str(exc))


def from_validation(exc: ValidationError) -> ApiError:
    """A 400 naming the fields a record refused (a name too long, an empty section...)."""
    problems = "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'value'}: "
                         f"{error['msg']}" for error in exc.errors()[:5])
    return ApiError(400, f"invalid input: {problems}")


@dataclass(frozen=True)
class Endpoint:
    """The endpoint a request named: ``service.action`` and the version it asked for."""

    name: str
    requested_version: str


def envelope(endpoint: Endpoint, data: dict[str, Any] | None = None,
             error: ApiError | None = None) -> dict[str, Any]:
    """The JSON body answering ``endpoint``: ``data`` on success, else ``error``."""
    meta_id = uuid.uuid4().hex
    return {
        "meta": {
            "id": meta_id,
            "trx": meta_id,
            "endpoint": {"name": endpoint.name,
                         "requested_version": endpoint.requested_version,
                         "actual_version": API_VERSION},
            "result_code": error.code if error else 200,
            "result_subcode": error.subcode if error else 0,
            "result_msg": error.message if error else "OK",
            "error_stack": "",
            "error_data": {},
        },
        "data": data if data is not None else {},
    }
