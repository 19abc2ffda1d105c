"""The fields of a ClearML request body, each read with its type checked.

A wrong type answers 400 naming the endpoint's field and what it should be, never a 500.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from tunehouse.compat.clearml.envelope import bad_request

T = TypeVar("T")


class Body:
    """The JSON object a call sent (query parameters merged in, the body winning), and
    the raw body (``events.add_batch`` sends newline-delimited JSON instead)."""

    def __init__(self, data: dict[str, Any], raw: bytes = b"") -> None:
        self.data = data
        self.raw = raw

    def has(self, name: str) -> bool:
        """Whether ``name`` was sent (and is not null)."""
        return self.data.get(name) is not None

    def text(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        """The string field ``name`` (``default`` when absent)."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise bad_request(f"missing required field {name!r}")
            return default
        if not isinstance(value, str):
            raise bad_request(f"field {name!r} must be a string, got {type(value).__name__}")
        return value

    def req_text(self, name: str) -> str:
        """The string field ``name``, which must be sent."""
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        """The integer field ``name`` (a query parameter's digits count)."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"field {name!r} must be an integer, got {type(value).__name__}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """The boolean field ``name``."""
        value = self._typed(name, bool, "a boolean")
        return default if value is None else value

    def texts(self, name: str) -> list[str] | None:
        """The list-of-strings field ``name`` (a single string counts as a list of one)."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise bad_request(f"field {name!r} must be a list of strings")
        return value

    def pattern(self, name: str, where: str) -> re.Pattern[str] | None:
        """The field ``name`` as a regular expression (None when absent or empty); 400
        naming ``where`` when it is not one."""
        text = self.text(name)
        if not text:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            raise bad_request(f"{where}: {name} is not a regular expression: {exc}") from None

    def obj(self, name: str) -> dict[str, Any] | None:
        """The object field ``name``."""
        return self._typed(name, dict, "an object")

    def items(self, name: str) -> list[Any] | None:
        """The list field ``name``."""
        return self._typed(name, list, "a list")

    def _typed(self, name: str, kind: type[T], what: str) -> T | None:
        """The field ``name`` when it is a ``kind`` (None when absent); 400 saying it must
        be ``what`` else."""
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, kind):
            raise bad_request(f"field {name!r} must be {what}, got {type(value).__name__}")
        return value


def nested_dict(parent: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """The object ``parent[name]`` ({} when absent); 400 naming ``where`` otherwise."""
    value = parent.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{where}.{name} must be an object, got {type(value).__name__}")
    return value


def text_of(parent: dict[str, Any], name: str, where: str) -> str:
    """The string ``parent[name]`` ("" when absent); 400 naming ``where`` otherwise.
    Numbers and booleans are written as text (ClearML keeps parameter values as text)."""
    value = parent.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if not isinstance(value, str):
        raise bad_request(f"{where}.{name} must be a string, got {type(value).__name__}")
    return value
