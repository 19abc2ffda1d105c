"""Connected hyperparameters: flattening Python values into :class:`Parameter` records
and casting stored text back to the type the script used.

A connected dict is flattened to dotted names inside its section (``{"model": {"lr": 0.1}}``
becomes ``model.lr``); argparse namespaces and plain objects contribute their public,
non-callable attributes. ``Parameter.type`` holds the Python type name and
``Parameter.value`` the text: strings as they are, everything else as JSON.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tunehouse.errors import InvalidInput
from tunehouse.store.records import Parameter

DEFAULT_SECTION = "General"
ARGS_SECTION = "Args"

_JSON_TYPES = {"int": int, "float": float, "bool": bool, "list": list, "dict": dict, "tuple": tuple}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class Leaf:
    """One flattened value and the path that reaches it inside the connected object."""

    name: str
    path: tuple[Any, ...]
    value: Any


def full_name(section: str, name: str) -> str:
    return f"{section}/{name}"


def split_full_name(key: str) -> tuple[str, str]:
    """``"Args/lr"`` -> ``("Args", "lr")``; a key without a section goes to ``General``."""
    section, sep, name = key.partition("/")
    if not sep:
        return DEFAULT_SECTION, key
    if not section or not name:
        raise InvalidInput(f"invalid parameter name {key!r}: expected 'Section/name'")
    return section, name


def plain_value(value: Any) -> Any:
    """NumPy scalars and arrays become Python values; anything else is returned as is."""
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    return value


def object_fields(obj: Any) -> dict[str, Any]:
    """Public non-callable attributes of a plain object or argparse namespace."""
    names = vars(obj) if hasattr(obj, "__dict__") else {}
    fields: dict[str, Any] = {}
    for name, value in names.items():
        if name.startswith("_") or callable(value):
            continue
        fields[name] = value
    if not fields:
        for name in dir(type(obj)):
            if name.startswith("_"):
                continue
            value = getattr(obj, name, None)
            if not callable(value) and not isinstance(value, property):
                fields[name] = value
    return fields


def iter_leaves(mapping: Mapping[Any, Any], prefix: str = "",
                path: tuple[Any, ...] = ()) -> Iterator[Leaf]:
    """Leaves of a nested mapping with dotted names; an empty mapping is itself a leaf."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from iter_leaves(value, prefix=f"{name}.", path=(*path, key))
        else:
            yield Leaf(name, (*path, key), value)


def type_name(value: Any) -> str:
    return type(plain_value(value)).__name__


def encode(value: Any) -> tuple[str, str]:
    """``(text, type name)`` of a value; strings are stored as they are, others as JSON."""
    value = plain_value(value)
    kind = type(value).__name__
    if isinstance(value, str):
        return value, kind
    if value is None or isinstance(value, (bool, int, list, dict, tuple)):
        try:
            return json.dumps(value, allow_nan=True, default=str), kind
        except (TypeError, ValueError):
            return str(value), kind
    if isinstance(value, float):
        return (json.dumps(value) if math.isfinite(value) else str(value)), kind
    return str(value), kind


def to_parameter(section: str, name: str, value: Any, description: str = "") -> Parameter:
    text, kind = encode(value)
    return Parameter(section=section, name=name, value=text, type=kind, description=description)


def flatten(section: str, mapping: Mapping[Any, Any]) -> list[Parameter]:
    """Parameters of a (nested) mapping inside ``section``."""
    return [to_parameter(section, leaf.name, leaf.value) for leaf in iter_leaves(mapping)]


def decode(param: Parameter) -> Any:
    """The Python value of a stored parameter, by its recorded type."""
    kind = param.type or "str"
    if kind == "str":
        return param.value
    if kind == "NoneType":
        return _loose_json(param.value)
    target = _JSON_TYPES.get(kind)
    if target is None:
        return param.value
    return _cast_text(param.value, target, full_name(param.section, param.name))


def cast_like(param: Parameter, original: Any) -> Any:
    """The stored value cast to the type of ``original`` (the script's own value).

    Raises:
        InvalidInput: naming the parameter when the text cannot be read as that type.
    """
    label = full_name(param.section, param.name)
    original = plain_value(original)
    if original is None:
        return decode(param)
    if isinstance(original, str):
        return param.value
    target = type(original)
    if target in (bool, int, float, list, dict, tuple):
        return _cast_text(param.value, target, label)
    if param.value == str(original):
        return original
    try:
        return target(param.value)
    except Exception as exc:
        raise InvalidInput(
            f"parameter '{label}': cannot cast {param.value!r} to {target.__name__}",
            detail={"parameter": label},
        ) from exc


def _loose_json(text: str) -> Any:
    if text in ("", "null", "None"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _cast_text(text: str, target: type, label: str) -> Any:
    def fail(reason: str = "") -> InvalidInput:
        extra = f" ({reason})" if reason else ""
        return InvalidInput(
            f"parameter '{label}': cannot cast {text!r} to {target.__name__}{extra}",
            detail={"parameter": label, "value": text, "type": target.__name__},
        )

    stripped = text.strip()
    if target is bool:
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise fail()
    if target is int:
        try:
            return int(stripped)
        except ValueError:
            pass
        try:
            number = float(stripped)
        except ValueError:
            raise fail() from None
        if number.is_integer():
            return int(number)
        raise fail("not a whole number")
    if target is float:
        try:
            return float(stripped)
        except ValueError:
            raise fail() from None
    try:
        value = json.loads(stripped)
    except ValueError:
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            raise fail() from None
    if target is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if target is list and isinstance(value, tuple):
        return list(value)
    if not isinstance(value, target):
        raise fail(f"got {type(value).__name__}")
    return value


def set_path(container: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``value`` at ``path`` inside nested mappings, creating missing levels."""
    for key in path[:-1]:
        nxt = container.get(key) if isinstance(container, Mapping) else None
        if not isinstance(nxt, Mapping):
            nxt = {}
            container[key] = nxt
        container = nxt
    container[path[-1]] = value


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model.lr": 0.1}`` -> ``{"model": {"lr": 0.1}}``."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        set_path(nested, tuple(name.split(".")), value)
    return nested
