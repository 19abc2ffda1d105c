"""What a preference may hold: keys, sizes, and the values of the keys the web UI uses.

A preference is a JSON document of at most :data:`PREFERENCE_MAX_BYTES` a user keeps under
a key of 1 to 255 characters (letters, digits, ``_ . : @ + -``, starting with a letter or
digit). Keys with a known prefix must hold what that prefix says
(:data:`PREFERENCE_CHECKS`): the web UI's dashboard of a project is
``dashboard:<project id>``, a list of at most :data:`DASHBOARD_MAX_PINS`
:class:`DashboardPin`; its experiment table's columns and sort are
``table:<project id>``, a :class:`TableView`. Every implementation of
:class:`~tunehouse.store.interfaces.Preferences` applies :func:`check_preference`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError, field_validator

from tunehouse.errors import InvalidInput
from tunehouse.store.columns import METRIC_PREFIX, MetricColumn, parse_column
from tunehouse.store.records import Input

#: A preference's value is at most this many bytes of JSON.
PREFERENCE_MAX_BYTES = 64 * 1024
_PREFERENCE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,254}$")
#: Preference keys of the web UI's project dashboards: ``dashboard:<project id>``.
DASHBOARD_PREFIX = "dashboard:"
DASHBOARD_MAX_PINS = 50
#: Preference keys of the web UI's experiment table of a project: ``table:<project id>``,
#: the columns and sort the user chose there last (:class:`TableView`).
TABLE_PREFIX = "table:"
TABLE_MAX_COLUMNS = 100
#: Sort orders of the task listing besides a column spec.
TABLE_ORDERS = ("created", "updated", "name", "status", "type")
#: Chart kinds of a dashboard pin: one point per task of the project (a summary value of
#: a metric against the task's creation time), or the latest value per running task.
PinKind = Literal["metric_over_time", "running_latest"]
PIN_KINDS: tuple[str, ...] = get_args(PinKind)
METRIC_SYNTAX = f"{METRIC_PREFIX}<title>/<series>[:last|:min|:max]"


class DashboardPin(Input):
    """One chart pinned on a project dashboard: ``spec`` is a metric column spec."""

    kind: PinKind
    spec: str = Field(min_length=1, max_length=600)
    title: str = Field(default="", max_length=200)

    @field_validator("spec")
    @classmethod
    def _metric_column(cls, spec: str) -> str:
        try:
            column = parse_column(spec)
        except InvalidInput:
            column = None
        if not isinstance(column, MetricColumn):
            raise ValueError(f"{spec!r} is not a metric column: use {METRIC_SYNTAX}")
        return spec.strip()


class TableView(Input):
    """The columns (column specs) and sort of a user's experiment table of a project."""

    col: list[str] = Field(default_factory=list, max_length=TABLE_MAX_COLUMNS)
    order: str = Field(default="created", max_length=600)
    asc: bool = False

    @field_validator("col")
    @classmethod
    def _columns(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            _column(spec)
        return [spec.strip() for spec in specs]

    @field_validator("order")
    @classmethod
    def _order(cls, order: str) -> str:
        if order not in TABLE_ORDERS:
            _column(order)
        return order.strip()


def _column(spec: str) -> None:
    """ValueError (a validation error of the model) when ``spec`` names no column."""
    try:
        parse_column(spec)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


DashboardPins = Annotated[list[DashboardPin], Field(max_length=DASHBOARD_MAX_PINS)]
_DASHBOARD_PINS: TypeAdapter[list[DashboardPin]] = TypeAdapter(DashboardPins)


def _dashboard_value(value: Any) -> Any:
    pins = _DASHBOARD_PINS.validate_python(value)
    return [pin.model_dump() for pin in pins]


#: What the value of a key with each prefix must be: a check returning the value to store.
PREFERENCE_CHECKS: dict[str, Callable[[Any], Any]] = {
    DASHBOARD_PREFIX: _dashboard_value,
    TABLE_PREFIX: lambda value: TableView.model_validate(value).model_dump(),
}


def check_preference_key(key: str) -> str:
    """``key`` when it is a valid preference key; else InvalidInput."""
    if not isinstance(key, str) or not _PREFERENCE_KEY.match(key):
        raise InvalidInput(f"invalid preference key {str(key)[:80]!r}: 1 to 255 letters, "
                           "digits, '_', '.', ':', '@', '+' or '-', starting with a letter "
                           "or digit")
    return key


def check_preference(key: str, value: Any) -> Any:
    """``value`` as stored under ``key``; InvalidInput naming the problem when the key is
    malformed, the value is not JSON, too large, or not what keys like this one hold."""
    check_preference_key(key)
    for prefix, check in PREFERENCE_CHECKS.items():
        if key.startswith(prefix):
            try:
                value = check(value)
            except ValidationError as exc:
                raise InvalidInput(f"invalid value of preference {key!r}: "
                                   + _problems(exc)) from None
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the value of preference {key!r} is not JSON: {exc}") from None
    if size > PREFERENCE_MAX_BYTES:
        raise InvalidInput(f"the value of preference {key!r} is {size} bytes of JSON; at "
                           f"most {PREFERENCE_MAX_BYTES} are kept")
    return value


def _problems(exc: ValidationError) -> str:
    """``value[0].kind: Input should be ...`` for each (of the first five) problems."""
    errors = exc.errors(include_input=False)
    parts = []
    for error in errors[:5]:
        where = "value" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                  for p in error["loc"])
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
