"""Flattening connected values and casting stored text back to the script's types."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tunehouse.errors import InvalidInput
from tunehouse.sdk import parameters as p
from tunehouse.store.records import Parameter


@pytest.mark.parametrize("value", [3, 0.25, True, False, None, "text", [1, "a", None],
                                   (1, 2), {}, -7, 1e-9, ""])
def test_round_trip_keeps_type_and_value(value: object) -> None:
    param = p.to_parameter("General", "x", value)
    assert param.type == type(value).__name__
    decoded = p.decode(param)
    assert decoded == value and type(decoded) is type(value)
    cast = p.cast_like(param, value)
    assert cast == value and type(cast) is type(value)


def test_flatten_nested_and_dotted_names() -> None:
    flat = p.flatten("S", {"model": {"lr": 0.1, "layers": {"n": 2}}, "opt.beta": 0.9, 1: "one"})
    assert {(x.name, x.value, x.type) for x in flat} == {
        ("model.lr", "0.1", "float"), ("model.layers.n", "2", "int"),
        ("opt.beta", "0.9", "float"), ("1", "one", "str")}
    assert p.unflatten({"model.lr": 0.1, "model.n": 2, "x": 1}) == {
        "model": {"lr": 0.1, "n": 2}, "x": 1}


@pytest.mark.parametrize(("text", "original", "expected"), [
    ("5", 1, 5), ("5.0", 1, 5), ("2", 0.5, 2.0), ("1e-3", 0.5, 0.001), ("yes", False, True),
    ("False", True, False), ("0", True, False), ("[1, 2]", [0], [1, 2]), ("(1, 2)", [0], [1, 2]),
    ("[3]", (0,), (3,)), ('{"a": 1}', {"b": 2}, {"a": 1}), ("anything", "s", "anything"),
    ("7", None, "7"), ("free text", None, "free text"), ("/tmp/x", Path("/a"), Path("/tmp/x")),
])
def test_cast_edited_text_to_the_original_type(text: str, original: object,
                                               expected: object) -> None:
    got = p.cast_like(Parameter(section="Args", name="v", value=text, type="str"), original)
    assert got == expected and type(got) is type(expected)


def test_a_none_default_takes_the_stored_type() -> None:
    def stored(value: str, kind: str) -> Parameter:
        return Parameter(section="Args", name="n", value=value, type=kind)

    assert p.cast_like(stored("7", "NoneType"), None) == 7
    assert p.cast_like(stored("null", "NoneType"), None) is None
    assert p.cast_like(stored("7", "int"), None) == 7
    assert p.cast_like(stored("0.5", "float"), None) == 0.5


@pytest.mark.parametrize(("text", "original"), [
    ("abc", 1), ("2.5", 3), ("abc", 0.1), ("maybe", True), ("{not json", [1]), ("[1]", {"a": 1}),
    ("3", [1]),
])
def test_uncastable_value_names_the_parameter(text: str, original: object) -> None:
    param = Parameter(section="Args", name="lr", value=text, type="str")
    with pytest.raises(InvalidInput, match=r"parameter 'Args/lr': cannot cast") as info:
        p.cast_like(param, original)
    assert info.value.detail["parameter"] == "Args/lr"


def test_object_fields_are_public_non_callable_attributes() -> None:
    class Config:
        shared = 1

        def __init__(self) -> None:
            self.lr = 0.1
            self._hidden = 2
            self.fn = print

        def method(self) -> None: ...

    assert p.object_fields(Config()) == {"lr": 0.1}
    namespace = argparse.Namespace(a=1, b="x")
    assert p.object_fields(namespace) == {"a": 1, "b": "x"}


def test_split_full_name() -> None:
    assert p.split_full_name("Args/lr") == ("Args", "lr")
    assert p.split_full_name("lr") == ("General", "lr")
    assert p.split_full_name("A/b/c") == ("A", "b/c")
    with pytest.raises(InvalidInput):
        p.split_full_name("/lr")


def test_numpy_values_are_stored_as_python_values() -> None:
    import numpy as np

    assert p.encode(np.float64(0.5)) == ("0.5", "float")
    assert p.encode(np.int32(3)) == ("3", "int")
    assert p.encode(np.array([1, 2])) == ("[1, 2]", "list")
