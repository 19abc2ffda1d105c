"""Reading a search space written as YAML text.

The text is a mapping from parameter names to ranges::

    learning_rate: loguniform(0.0001, 0.01)
    General/dropout_rate: uniform(0.1, 0.5, 0.1)   # optional third argument: the step
    batch_size: choice([16, 32, 64])
    epochs: int(5, 20, step=5)
    optimizer: grid([adam, sgd])
    units: [64, 128]                               # a plain YAML list is a choice

:func:`read_space_text` turns it into the dictionaries that
:func:`tunehouse.hpo.space.parameter_from_dict` reads (the range classes check bounds, steps
and values); :func:`tunehouse.hpo.space.parse_space` is the entry point that does both.

The call expressions are parsed with :func:`ast.parse` and their arguments with
:func:`ast.literal_eval`, never evaluated. A bare word in the arguments reads as it would
in YAML, so ``choice([relu, tanh])`` and ``choice([true, false])`` mean what they mean in
the rest of the file; anything else that is not a literal (a call, an operator) is refused.
A key written twice is refused (YAML alone would keep the last).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Hashable
from typing import Any

import yaml

from tunehouse.errors import InvalidInput

EXAMPLE = "learning_rate: uniform(0.0001, 0.01)"

_EXPRESSION_LIMIT = 10_000  # characters of one range expression


def _uniform(name: str, args: list[Any], step: Any) -> dict[str, Any]:
    return {"kind": "uniform", "name": name, "min": args[0], "max": args[1], "step": step}


def _loguniform(name: str, args: list[Any], step: Any) -> dict[str, Any]:
    return {"kind": "loguniform", "name": name, "min": args[0], "max": args[1]}


def _integer(name: str, args: list[Any], step: Any) -> dict[str, Any]:
    return {"kind": "int", "name": name, "min": args[0], "max": args[1],
            "step": 1 if step is None else step}


def _choice(name: str, args: list[Any], step: Any) -> dict[str, Any]:
    return {"kind": "choice", "name": name, "values": _values(name, "choice", args[0])}


def _grid(name: str, args: list[Any], step: Any) -> dict[str, Any]:
    return {"kind": "grid", "name": name, "values": _values(name, "grid", args[0])}


class _Distribution:
    def __init__(self, usage: str, min_args: int, max_args: int, takes_step: bool,
                 build: Callable[[str, list[Any], Any], dict[str, Any]]) -> None:
        self.usage = usage
        self.min_args = min_args
        self.max_args = max_args
        self.takes_step = takes_step
        self.build = build


DISTRIBUTIONS: dict[str, _Distribution] = {
    "uniform": _Distribution("uniform(low, high) or uniform(low, high, step)", 2, 3, True,
                             _uniform),
    "loguniform": _Distribution("loguniform(low, high)", 2, 2, False, _loguniform),
    "int": _Distribution("int(low, high) or int(low, high, step)", 2, 3, True, _integer),
    "choice": _Distribution("choice([value, ...])", 1, 1, False, _choice),
    "grid": _Distribution("grid([value, ...])", 1, 1, False, _grid),
}
"""The distributions a range expression may call, by name."""

KNOWN = ", ".join(sorted(DISTRIBUTIONS))


def read_space_text(text: str) -> list[dict[str, Any]]:
    """The parameter dictionaries written in a YAML search space, in the order written.

    Args:
        text: YAML text: a mapping from parameter names (``"name"`` or ``"Section/name"``)
            to range expressions (``uniform(a, b)``, ``loguniform(a, b)``, ``int(a, b)``
            with an optional step, ``choice([...])``, ``grid([...])``) or YAML lists.

    Returns:
        One dictionary per parameter in the form of ``ParameterRange.to_dict``; the bounds
        and values are not checked yet.

    Raises:
        InvalidInput: the text is not YAML, not a mapping, or a value is not a range
            expression (unknown distribution, wrong arguments, malformed call), each
            message naming the parameter.
    """
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the search space is not valid YAML: {exc}") from None
    if document is None:
        raise InvalidInput(f"the search space is empty: write one parameter a line, "
                           f"for example `{EXAMPLE}`")
    if not isinstance(document, dict):
        raise InvalidInput(
            f"the search space must be a YAML mapping of parameter names to ranges "
            f"(for example `{EXAMPLE}`), not a {_yaml_kind(document)}")
    parameters = []
    for key, value in document.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput(f"search space key {key!r} is not a parameter name: "
                               f"names are text such as learning_rate or General/learning_rate")
        parameters.append(_read_value(key.strip(), value))
    return parameters


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that names a key twice (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise InvalidInput(f"the search space names parameter {key!r} twice (line "
                                   f"{key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read_value(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"kind": "choice", "name": name, "values": _values(name, "choice", value)}
    if isinstance(value, str):
        return _read_expression(name, value)
    if isinstance(value, dict):
        raise InvalidInput(
            f"parameter {name!r}: a nested mapping is not a range; write a section in the "
            f"key instead ({name}/<parameter>: uniform(0.0001, 0.01)) with one of the "
            f"distributions {KNOWN}")
    raise InvalidInput(
        f"parameter {name!r}: {value!r} is a single value, not a range; write a range such "
        f"as choice([{value!r}]) or one of the distributions {KNOWN}")


def _read_expression(name: str, text: str) -> dict[str, Any]:
    expression = text.strip()
    if len(expression) > _EXPRESSION_LIMIT:
        raise InvalidInput(f"parameter {name!r}: the range expression is longer than "
                           f"{_EXPRESSION_LIMIT} characters")
    call = _parse_call(name, expression)
    if not isinstance(call.func, ast.Name):
        raise _malformed(name, expression)
    function = call.func.id.lower()
    distribution = DISTRIBUTIONS.get(function)
    if distribution is None:
        raise InvalidInput(f"parameter {name!r}: unknown distribution {call.func.id!r} in "
                           f"{expression!r}; the known ones are {KNOWN}")
    args = [_literal(name, expression, node) for node in call.args]
    step = None
    for keyword in call.keywords:
        if keyword.arg != "step" or not distribution.takes_step:
            label = f"{keyword.arg}=" if keyword.arg else "**"
            raise InvalidInput(f"parameter {name!r}: {function} takes no argument {label} "
                               f"in {expression!r}; write {distribution.usage}")
        step = _literal(name, expression, keyword.value)
    if step is not None and len(args) == distribution.max_args:
        raise InvalidInput(f"parameter {name!r}: the step is given twice in {expression!r}; "
                           f"write {distribution.usage}")
    if not distribution.min_args <= len(args) <= distribution.max_args:
        raise InvalidInput(
            f"parameter {name!r}: {function} takes "
            f"{_count(distribution.min_args, distribution.max_args)}, "
            f"got {len(args)} in {expression!r}; write {distribution.usage}")
    if distribution.takes_step and len(args) == distribution.max_args:
        step = args.pop()
    return distribution.build(name, args, step)


def _parse_call(name: str, expression: str) -> ast.Call:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning on odd escapes
            tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise _malformed(name, expression) from None
    body = tree.body
    if isinstance(body, ast.Call):
        if any(isinstance(arg, ast.Starred) for arg in body.args):
            raise _malformed(name, expression)
        return body
    if isinstance(body, ast.Name) and body.id.lower() in DISTRIBUTIONS:
        usage = DISTRIBUTIONS[body.id.lower()].usage
        raise InvalidInput(f"parameter {name!r}: {expression!r} lacks its arguments; "
                           f"write {usage}")
    raise InvalidInput(
        f"parameter {name!r}: {expression!r} is not a range; write one of the distributions "
        f"{KNOWN} (for example uniform(0.0001, 0.01) or choice([{expression!r}]))")


def _literal(name: str, expression: str, node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Name):  # a bare word reads as in YAML: relu, true, null
        return yaml.safe_load(node.id)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(name, expression, item) for item in node.elts]
    source = ast.get_source_segment(expression, node)
    raise InvalidInput(f"parameter {name!r}: cannot read the argument {source!r} in "
                       f"{expression!r}: write numbers, text or lists of them")


def _values(name: str, function: str, value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"parameter {name!r}: {function} takes one list of values, got "
                           f"{value!r}; write {function}([value, ...])")
    return list(value)


def _malformed(name: str, expression: str) -> InvalidInput:
    return InvalidInput(
        f"parameter {name!r}: cannot read the range expression {expression!r}; write a call "
        f"such as uniform(0.0001, 0.01), loguniform(0.0001, 0.01), int(16, 128, 16), "
        f"choice([16, 32]) or grid([16, 32])")


def _count(low: int, high: int) -> str:
    noun = "argument" if high == 1 else "arguments"
    return f"{low} {noun}" if low == high else f"{low} to {high} {noun}"


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return f"single text {value!r}"
    return f"single value {value!r}"
