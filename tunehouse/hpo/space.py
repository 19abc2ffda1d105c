"""Search spaces of the hyperparameter search.

A :class:`SearchSpace` is a list of ranges, each naming a parameter of the base task
(``"Section/name"``, or a bare ``"name"`` that :meth:`SearchSpace.resolve` looks up):
:class:`UniformParameterRange` (floats, optionally on a step),
:class:`LogUniformParameterRange` (floats drawn on a log scale),
:class:`UniformIntegerParameterRange`, :class:`DiscreteParameterRange` (categorical),
:class:`GridParameterRange` (categorical, written ``grid([...])``) and
:class:`ParameterSet` (one whole combination of several parameters per trial).

A range samples through an Optuna trial, lists its values for a grid search and stores as
a JSON-able dictionary. Every problem with a space is :class:`~tunehouse.errors.InvalidInput`
naming the parameter, raised when the space is built or resolved, before any trial runs.
"""

from __future__ import annotations

import abc
import inspect
import itertools
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import optuna

from tunehouse.errors import InvalidInput
from tunehouse.hpo.space_text import read_space_text
from tunehouse.store.records import Parameter

GRID_LIMIT = 100_000
"""The most points :meth:`SearchSpace.grid` enumerates."""

_LISTED = 20  # base parameters named in an "unknown parameter" message


def format_value(value: Any) -> str:
    """The text stored as a parameter value: ``32`` for an int, ``0.001`` for a float
    (its shortest exact form), the text itself for a string, ``True``/``False`` for a bool."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


class ParameterRange(abc.ABC):
    """One hyperparameter's range (or, for :class:`ParameterSet`, a list of combinations).

    Attributes:
        name: The parameter, ``"Section/name"`` or a bare ``"name"`` resolved later; it is
            also the parameter's name in Optuna.
    """

    kind: ClassVar[str]

    def __init__(self, name: str) -> None:
        self.name = _check_name(name, "a parameter")

    @abc.abstractmethod
    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """Sample a value with ``trial.suggest_*``, using :attr:`name` as the Optuna name."""

    @abc.abstractmethod
    def grid_values(self) -> list[Any] | None:
        """The values a grid search tries, or ``None`` for a continuous range."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary that :func:`parameter_from_dict` reads back."""

    def grid_size(self) -> int | None:
        """How many values :meth:`grid_values` lists (``None`` when continuous)."""
        values = self.grid_values()
        return None if values is None else len(values)

    def task_keys(self) -> list[str]:
        """The task parameters a sampled value sets (just :attr:`name` but for sets)."""
        return [self.name]

    def expand(self, value: Any) -> dict[str, str]:
        """The task parameters a value of this range sets, with their text to store."""
        return {self.name: format_value(value)}

    def renamed(self, rename: Callable[[str], str]) -> ParameterRange:
        """A copy whose task parameter names went through ``rename``."""
        data = self.to_dict()
        data["name"] = rename(self.name)
        return parameter_from_dict(data)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.to_dict().items()
                           if key != "kind")
        return f"{type(self).__name__}({fields})"


class _SteppedRange(ParameterRange):
    """Bounds, an optional step and ``include_max_value``: shared by the uniform ranges."""

    whole: ClassVar[bool]

    def __init__(self, name: str, min_value: Any, max_value: Any, step_size: Any,
                 include_max_value: Any) -> None:
        super().__init__(name)
        self.min_value, self.max_value = _bounds(self.name, min_value, max_value,
                                                 whole=self.whole)
        self.step_size: float | int | None = None
        if step_size is not None or self.whole:
            step = _step(self.name, step_size, whole=self.whole)
            self.step_size = step if self.whole else float(step)
        if not isinstance(include_max_value, bool):
            raise InvalidInput(f"parameter {self.name!r}: include_max_value must be true or "
                               f"false, not {include_max_value!r}")
        self.include_max_value = include_max_value
        self._count = 0
        if self.step_size is not None:
            span = _decimal(self.max_value) - _decimal(self.min_value)
            self._count = int(span // _decimal(self.step_size)) + 1
            if not self.include_max_value and self._value(self._count - 1) == self.max_value:
                self._count -= 1

    def _value(self, index: int) -> Any:
        assert self.step_size is not None
        value = _decimal(self.min_value) + index * _decimal(self.step_size)
        return int(value) if self.whole else float(value)

    def grid_values(self) -> list[Any] | None:
        """Every step from ``min_value`` up, or ``None`` without a step."""
        if self.step_size is None:
            return None
        return [self._value(index) for index in range(self._count)]

    def grid_size(self) -> int | None:
        """The number of steps, or ``None`` without a step."""
        return None if self.step_size is None else self._count

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "name", "min", "max", "step", "include_max"}``."""
        return {"kind": self.kind, "name": self.name, "min": self.min_value,
                "max": self.max_value, "step": self.step_size,
                "include_max": self.include_max_value}


class UniformParameterRange(_SteppedRange):
    """Floats drawn uniformly from ``[min_value, max_value]``.

    Args:
        name: The parameter (``"Section/name"`` or ``"name"``).
        min_value: The low bound; must be below ``max_value``.
        max_value: The high bound.
        step_size: When given (> 0), only ``min_value + k * step_size`` are drawn, and the
            range can be enumerated for a grid search.
        include_max_value: Whether ``max_value`` itself may be drawn.
    """

    kind = "uniform"
    whole = False

    def __init__(self, name: str, min_value: float, max_value: float,
                 step_size: float | None = None, include_max_value: bool = True) -> None:
        super().__init__(name, min_value, max_value, step_size, include_max_value)

    def suggest(self, trial: optuna.trial.BaseTrial) -> float:
        """A float in the range; on the step when there is one."""
        if self.step_size is None:
            high = self.max_value if self.include_max_value else math.nextafter(
                self.max_value, -math.inf)
            return trial.suggest_float(self.name, self.min_value, high)
        drawn = trial.suggest_float(self.name, self.min_value, self._value(self._count - 1),
                                    step=self.step_size)
        # Optuna adds steps in binary floats (0.30000000000000004); give the decimal value.
        index = round((drawn - self.min_value) / self.step_size)
        return float(self._value(min(max(index, 0), self._count - 1)))


class LogUniformParameterRange(ParameterRange):
    """Floats in ``[min_value, max_value]`` drawn log-uniformly (Optuna's ``log=True``).

    Unlike ClearML's class of the same name, whose bounds are exponents of a base, the
    bounds here are the values themselves: ``LogUniformParameterRange("lr", 1e-4, 1e-2)``
    draws learning rates between 0.0001 and 0.01. Both bounds must be above zero.

    Args:
        name: The parameter (``"Section/name"`` or ``"name"``).
        min_value: The low bound, above zero and below ``max_value``.
        max_value: The high bound.
    """

    kind = "loguniform"

    def __init__(self, name: str, min_value: float, max_value: float) -> None:
        super().__init__(name)
        if _number(self.name, "low bound", min_value) <= 0:
            raise InvalidInput(
                f"parameter {self.name!r}: a log range must lie above zero, but its low "
                f"bound is {min_value!r}; use uniform for ranges through zero")
        self.min_value, self.max_value = _bounds(self.name, min_value, max_value, whole=False)

    def suggest(self, trial: optuna.trial.BaseTrial) -> float:
        """A float in the range, drawn on a log scale."""
        return trial.suggest_float(self.name, self.min_value, self.max_value, log=True)

    def grid_values(self) -> list[Any] | None:
        """``None``: a log range is continuous."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "loguniform", "name", "min", "max"}``."""
        return {"kind": self.kind, "name": self.name, "min": self.min_value,
                "max": self.max_value}


class UniformIntegerParameterRange(_SteppedRange):
    """Integers ``min_value, min_value + step_size, ...`` up to ``max_value``.

    Args:
        name: The parameter (``"Section/name"`` or ``"name"``).
        min_value: The low bound (an integer below ``max_value``).
        max_value: The high bound; the last value is the highest step not above it.
        step_size: The distance between values (an integer above zero).
        include_max_value: Whether ``max_value`` itself may be drawn.
    """

    kind = "int"
    whole = True

    def __init__(self, name: str, min_value: int, max_value: int, step_size: int = 1,
                 include_max_value: bool = True) -> None:
        super().__init__(name, min_value, max_value, step_size, include_max_value)

    def suggest(self, trial: optuna.trial.BaseTrial) -> int:
        """An integer on the range's steps."""
        assert self.step_size is not None
        return trial.suggest_int(self.name, int(self.min_value),
                                 self._value(self._count - 1), step=int(self.step_size))


class DiscreteParameterRange(ParameterRange):
    """One value out of a list (categorical), each a number, text or boolean.

    Args:
        name: The parameter (``"Section/name"`` or ``"name"``).
        values: The choices, at least one, no two equal (for Optuna 1, 1.0 and True are
            equal); they keep their types.
    """

    kind = "choice"

    def __init__(self, name: str, values: Sequence[Any]) -> None:
        super().__init__(name)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise InvalidInput(f"parameter {self.name!r}: a {self.kind} needs a non-empty list "
                               f"of values, not {values!r}")
        seen: dict[Any, Any] = {}
        for value in values:
            _check_scalar(self.name, value, f"value {value!r} of the {self.kind}")
            if value in seen:
                raise InvalidInput(f"parameter {self.name!r}: the {self.kind} lists "
                                   f"{seen[value]!r} and {value!r}, which are equal")
            seen[value] = value
        self.values: list[Any] = list(values)

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """One of the values, as it was given."""
        return trial.suggest_categorical(self.name, self.values)

    def grid_values(self) -> list[Any] | None:
        """The values, in order."""
        return list(self.values)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "choice", "name", "values"}``."""
        return {"kind": self.kind, "name": self.name, "values": list(self.values)}


class GridParameterRange(DiscreteParameterRange):
    """A :class:`DiscreteParameterRange` written ``grid([...])``: the values are meant to
    be enumerated; it samples and enumerates exactly like a choice."""

    kind = "grid"


class ParameterSet(ParameterRange):
    """One whole combination of parameters out of a list, as in ClearML.

    Each trial takes one of the combinations; Optuna sees the index of the combination as
    a categorical parameter named :attr:`name`.

    Args:
        parameter_combinations: The combinations, each a mapping from parameter names
            (``"Section/name"`` or ``"name"``) to values (numbers, text or booleans).
        name: The Optuna name of the choice; give each set its own when a space has two.
    """

    kind = "set"

    def __init__(self, parameter_combinations: list[dict[str, Any]],
                 name: str = "ParameterSet") -> None:
        super().__init__(name)
        combinations = parameter_combinations
        if (isinstance(combinations, (str, bytes)) or not isinstance(combinations, Sequence)
                or not combinations):
            raise InvalidInput(f"parameter set {self.name!r} needs a non-empty list of "
                               f"combinations, not {combinations!r}")
        seen: set[frozenset[tuple[str, Any]]] = set()
        checked = []
        for combination in combinations:
            if not isinstance(combination, dict) or not combination:
                raise InvalidInput(f"parameter set {self.name!r}: each combination must be a "
                                   f"non-empty mapping of parameter names to values, not "
                                   f"{combination!r}")
            for key, value in combination.items():
                _check_name(key, f"a key of parameter set {self.name!r}")
                _check_scalar(key, value, f"value {value!r} in parameter set {self.name!r}")
            fingerprint = frozenset((key, (type(v), v)) for key, v in combination.items())
            if fingerprint in seen:
                raise InvalidInput(f"parameter set {self.name!r} lists the combination "
                                   f"{combination!r} twice")
            seen.add(fingerprint)
            checked.append(dict(combination))
        self.parameter_combinations: list[dict[str, Any]] = checked

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """One of the combinations (a copy), chosen by its index."""
        indices = list(range(len(self.parameter_combinations)))
        index = trial.suggest_categorical(self.name, indices)
        return dict(self.parameter_combinations[index])

    def grid_values(self) -> list[Any] | None:
        """Every combination."""
        return [dict(combination) for combination in self.parameter_combinations]

    def task_keys(self) -> list[str]:
        """Every parameter some combination sets, in the order first seen."""
        return list(dict.fromkeys(key for combination in self.parameter_combinations
                                  for key in combination))

    def expand(self, value: Any) -> dict[str, str]:
        """The combination, its values as text to store."""
        return {key: format_value(item) for key, item in value.items()}

    def renamed(self, rename: Callable[[str], str]) -> ParameterRange:
        """A copy whose combinations' keys went through ``rename`` (its name stays)."""
        return ParameterSet([{rename(key): value for key, value in combination.items()}
                             for combination in self.parameter_combinations], name=self.name)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "set", "name", "combinations"}``."""
        return {"kind": self.kind, "name": self.name, "combinations": self.grid_values()}


_KINDS: dict[str, type[ParameterRange]] = {cls.kind: cls for cls in (
    UniformParameterRange, LogUniformParameterRange, UniformIntegerParameterRange,
    DiscreteParameterRange, GridParameterRange, ParameterSet)}
_FIELDS = {"name": "name", "min": "min_value", "max": "max_value", "step": "step_size",
           "include_max": "include_max_value", "values": "values",
           "combinations": "parameter_combinations"}  # dictionary key: constructor argument


def parameter_from_dict(data: dict[str, Any]) -> ParameterRange:
    """The range that ``ParameterRange.to_dict`` described.

    Raises:
        InvalidInput: not a mapping, an unknown ``kind``, missing or unknown fields, or
            values the range refuses.
    """
    if not isinstance(data, dict):
        raise InvalidInput(f"a search space parameter must be a mapping, not {data!r}")
    kind = data.get("kind")
    label = data.get("name", "(unnamed)")
    if kind not in _KINDS:
        raise InvalidInput(f"parameter {label!r}: unknown kind {kind!r}; the known ones are "
                           f"{', '.join(_KINDS)}")
    cls = _KINDS[kind]
    arguments = inspect.signature(cls).parameters
    fields = {key: argument for key, argument in _FIELDS.items() if argument in arguments}
    unknown = sorted(str(key) for key in data if key != "kind" and key not in fields)
    if unknown:
        raise InvalidInput(f"parameter {label!r}: a {kind} range has no field "
                           f"{', '.join(unknown)} (it has {', '.join(fields)})")
    missing = [key for key, argument in fields.items()
               if key not in data and arguments[argument].default is inspect.Parameter.empty]
    if missing:
        raise InvalidInput(f"parameter {label!r}: the {kind} range lacks "
                           f"{', '.join(missing)}")
    return cls(**{argument: data[key] for key, argument in fields.items() if key in data})


class SearchSpace:
    """The parameters a search varies, each a :class:`ParameterRange`.

    Args:
        parameters: At least one range; no two with the same name, and no task parameter
            set by two of them.

    Raises:
        InvalidInput: empty, not ranges, or duplicate names.
    """

    def __init__(self, parameters: Sequence[ParameterRange]) -> None:
        ranges = list(parameters)
        if not ranges:
            raise InvalidInput("the search space has no parameters; give at least one range")
        names: set[str] = set()
        keys: dict[str, str] = {}
        for parameter in ranges:
            if not isinstance(parameter, ParameterRange):
                raise InvalidInput(f"a search space holds parameter ranges, not {parameter!r}")
            if parameter.name in names:
                raise InvalidInput(f"the search space names parameter {parameter.name!r} "
                                   f"twice")
            names.add(parameter.name)
            for key in parameter.task_keys():
                if key in keys:
                    raise InvalidInput(f"the search space sets parameter {key!r} twice "
                                       f"(in {keys[key]!r} and {parameter.name!r})")
                keys[key] = parameter.name
        self.parameters: list[ParameterRange] = ranges

    def task_keys(self) -> list[str]:
        """Every task parameter a sample sets, in order."""
        return [key for parameter in self.parameters for key in parameter.task_keys()]

    def resolve(self, base: Sequence[Parameter]) -> SearchSpace:
        """A copy whose names all carry their section, looked up in the base task's
        parameters ``base``: ``"Section/name"`` must be one of them, a bare ``"name"`` the
        name of exactly one of them (in any section).

        Raises:
            InvalidInput: a parameter the base task lacks (naming those it has), or a bare
                name found in several sections (naming them).
        """
        full = [f"{parameter.section}/{parameter.name}" for parameter in base]
        existing = set(full)

        def rename(key: str) -> str:
            if key in existing:
                return key
            matches = [name for name, parameter in zip(full, base, strict=True)
                       if parameter.name == key]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise InvalidInput(
                    f"parameter {key!r} is ambiguous: the base task has {', '.join(matches)}; "
                    f"write it with its section, for example {matches[0]!r}")
            raise InvalidInput(f"the base task has no parameter {key!r} "
                               f"(it has: {_listing(full)})")

        return SearchSpace([parameter.renamed(rename) for parameter in self.parameters])

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, str]:
        """The values a trial draws, as the text to store: ``{"Section/name": "0.001"}``.

        A :class:`ParameterSet` contributes every key of the combination drawn.
        """
        values: dict[str, str] = {}
        for parameter in self.parameters:
            values.update(parameter.expand(parameter.suggest(trial)))
        return values

    def grid_size(self) -> int | None:
        """The number of points of the full grid, or ``None`` when a range is continuous."""
        size = 1
        for parameter in self.parameters:
            count = parameter.grid_size()
            if count is None:
                return None
            size *= count
        return size

    def grid(self) -> list[dict[str, str]]:
        """Every combination of the ranges' grid values (their cartesian product), in
        order, each as :meth:`sample` gives it.

        Raises:
            InvalidInput: a range is continuous (named, with what to write instead), or the
                grid has more than :data:`GRID_LIMIT` points.
        """
        size = self.grid_size()
        if size is None:
            parameter = next(item for item in self.parameters if item.grid_size() is None)
            raise InvalidInput(
                f"parameter {parameter.name!r} is continuous ({parameter.kind}), so the "
                f"space cannot be enumerated for a grid search; give it a step "
                f"(uniform(low, high, step)) or use int, choice or grid")
        if size > GRID_LIMIT:
            raise InvalidInput(f"the grid has {size} points, more than the {GRID_LIMIT} a "
                               f"grid search enumerates; use fewer values or another strategy")
        columns = [parameter.grid_values() or [] for parameter in self.parameters]
        return [{key: text
                 for parameter, value in zip(self.parameters, combination, strict=True)
                 for key, text in parameter.expand(value).items()}
                for combination in itertools.product(*columns)]

    def to_dict(self) -> dict[str, Any]:
        """``{"parameters": [range.to_dict(), ...]}``, JSON-able."""
        return {"parameters": [parameter.to_dict() for parameter in self.parameters]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        """The space :meth:`to_dict` described (``InvalidInput`` if not acceptable)."""
        if not isinstance(data, dict) or not isinstance(data.get("parameters"), list):
            raise InvalidInput("a stored search space must be a mapping with a list "
                               "'parameters'")
        return cls([parameter_from_dict(item) for item in data["parameters"]])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and other.parameters == self.parameters

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SearchSpace({self.parameters!r})"


def parse_space(text: str) -> SearchSpace:
    """The search space written as YAML, one parameter a line, for example
    ``learning_rate: uniform(0.0001, 0.01)`` or ``batch_size: choice([16, 32, 64])``; the
    forms are described in :mod:`tunehouse.hpo.space_text`.

    Raises:
        InvalidInput: the text or one of its parameters is not acceptable, naming the
            parameter and the problem.
    """
    return SearchSpace([parameter_from_dict(item) for item in read_space_text(text)])


# ---------------------------------------------------------------- checks
def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} needs a name (text such as 'learning_rate' or "
                           f"'General/learning_rate'), not {name!r}")
    if name != name.strip() or name.startswith("/") or name.endswith("/"):
        raise InvalidInput(f"{what} has the malformed name {name!r}: write 'name' or "
                           f"'Section/name'")
    return name


def _number(name: str, label: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"parameter {name!r}: the {label} {value!r} is not a number")
    if not math.isfinite(value):
        raise InvalidInput(f"parameter {name!r}: the {label} {value!r} is not finite")
    return value


def _bounds(name: str, low: Any, high: Any, *, whole: bool) -> tuple[float, float]:
    low, high = _number(name, "low bound", low), _number(name, "high bound", high)
    for label, value in (("low bound", low), ("high bound", high)):
        if whole and not isinstance(value, int):
            raise InvalidInput(f"parameter {name!r}: the {label} {value!r} of an integer "
                               f"range is not a whole number")
    if low >= high:
        raise InvalidInput(f"parameter {name!r}: the low bound {low!r} must be below the high "
                           f"bound {high!r}")
    return (low, high) if whole else (float(low), float(high))


def _step(name: str, step: Any, *, whole: bool) -> float | int:
    step = _number(name, "step", step)
    if whole and not isinstance(step, int):
        raise InvalidInput(f"parameter {name!r}: the step {step!r} of an integer range is not "
                           f"a whole number")
    if step <= 0:
        raise InvalidInput(f"parameter {name!r}: the step must be above zero, not {step!r}")
    return step


def _check_scalar(name: str, value: Any, label: str) -> None:
    if not isinstance(value, (bool, int, float, str)):
        raise InvalidInput(f"parameter {name!r}: the {label} is not a number, text or "
                           f"boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"parameter {name!r}: the {label} is not finite")


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _listing(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"
