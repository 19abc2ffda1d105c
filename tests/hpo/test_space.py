"""Search spaces: the ranges, their Optuna sampling, grids, storage, resolution against a
base task's parameters and the YAML form (pure unit tests, no store)."""

from __future__ import annotations

import json
import math
from typing import Any

import optuna
import pytest

from tunehouse.errors import InvalidInput
from tunehouse.hpo.space import (
    GRID_LIMIT,
    DiscreteParameterRange,
    GridParameterRange,
    LogUniformParameterRange,
    ParameterRange,
    ParameterSet,
    SearchSpace,
    UniformIntegerParameterRange,
    UniformParameterRange,
    format_value,
    parameter_from_dict,
    parse_space,
)
from tunehouse.store.records import Parameter

optuna.logging.set_verbosity(optuna.logging.WARNING)

SOURCE_EXAMPLE = """\
learning_rate: uniform(0.0001, 0.01)
dropout_rate: choice([0.2, 0.3, 0.4])
batch_size: choice([16, 32, 64])
"""


def draws(parameter: ParameterRange, count: int = 60) -> list[Any]:
    """``count`` values drawn through real Optuna trials (random sampler, fixed seed)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    values = []
    for _ in range(count):
        trial = study.ask()
        values.append(parameter.suggest(trial))
        study.tell(trial, 0.0)
    return values


def base(*keys: str) -> list[Parameter]:
    return [Parameter(section=key.split("/")[0], name=key.split("/", 1)[1], value="1")
            for key in keys]


# ---------------------------------------------------------------- sampling
def test_uniform_suggests_floats_within_bounds() -> None:
    values = draws(UniformParameterRange("General/lr", 0.0001, 0.01))
    assert all(isinstance(value, float) and 0.0001 <= value <= 0.01 for value in values)
    assert len(set(values)) == len(values)


def test_uniform_with_a_step_suggests_only_steps_as_decimals() -> None:
    parameter = UniformParameterRange("dropout", 0.1, 0.5, step_size=0.1)
    assert parameter.grid_values() == [0.1, 0.2, 0.3, 0.4, 0.5]
    values = draws(parameter)
    assert set(values) == {0.1, 0.2, 0.3, 0.4, 0.5}
    # Optuna's own arithmetic would give 0.30000000000000004 here.
    assert parameter.suggest(optuna.trial.FixedTrial({"dropout": 0.1 + 0.2})) == 0.3


def test_uniform_without_its_max_value() -> None:
    stepped = UniformParameterRange("x", 0.0, 1.0, step_size=0.25, include_max_value=False)
    assert stepped.grid_values() == [0.0, 0.25, 0.5, 0.75]
    assert set(draws(stepped)) == {0.0, 0.25, 0.5, 0.75}
    continuous = UniformParameterRange("x", 0.0, 1.0, include_max_value=False)
    assert all(0.0 <= value < 1.0 for value in draws(continuous))
    assert continuous.grid_values() is None


def test_uniform_step_not_dividing_the_range_stops_below_max() -> None:
    parameter = UniformParameterRange("x", 0.0, 1.0, step_size=0.3)
    assert parameter.grid_values() == [0.0, 0.3, 0.6, 0.9]
    assert set(draws(parameter)) <= {0.0, 0.3, 0.6, 0.9}


def test_loguniform_takes_values_not_exponents_and_draws_on_a_log_scale() -> None:
    parameter = LogUniformParameterRange("lr", 1e-4, 1.0)
    values = draws(parameter, 300)
    assert all(1e-4 <= value <= 1.0 for value in values)
    # Log-uniform: about half the draws lie below the geometric middle 0.01 (a uniform
    # draw would put about 1% there).
    below = sum(value < 0.01 for value in values) / len(values)
    assert 0.35 < below < 0.65
    assert "exponent" in (LogUniformParameterRange.__doc__ or "")
    assert parameter.grid_values() is None


def test_integer_range_suggests_ints_on_its_steps() -> None:
    parameter = UniformIntegerParameterRange("batch", 16, 128, step_size=16)
    values = draws(parameter)
    assert all(type(value) is int for value in values)
    assert set(values) <= {16, 32, 48, 64, 80, 96, 112, 128}
    assert parameter.grid_values() == [16, 32, 48, 64, 80, 96, 112, 128]
    assert UniformIntegerParameterRange("n", 1, 10, 3).grid_values() == [1, 4, 7, 10]
    assert UniformIntegerParameterRange("n", 1, 10, 3, include_max_value=False
                                        ).grid_values() == [1, 4, 7]
    assert UniformIntegerParameterRange("n", 1, 3).grid_values() == [1, 2, 3]


def test_discrete_and_grid_keep_value_types() -> None:
    values = [16, 0.5, "adam", True]
    for cls in (DiscreteParameterRange, GridParameterRange):
        parameter = cls("p", values)
        drawn = draws(parameter)
        assert set(map(repr, drawn)) == set(map(repr, values))
        assert parameter.grid_values() == values
    assert draws(DiscreteParameterRange("p", [16, 32]), 5)[0] in (16, 32)
    assert type(draws(DiscreteParameterRange("p", [16, 32]), 1)[0]) is int


def test_parameter_set_chooses_a_whole_combination_by_index() -> None:
    combinations = [{"General/batch": 32, "General/epochs": 30},
                    {"General/batch": 64, "General/epochs": 20}]
    parameter = ParameterSet(combinations)
    assert parameter.name == "ParameterSet"
    assert parameter.task_keys() == ["General/batch", "General/epochs"]
    assert {tuple(value.items()) for value in draws(parameter)} == {
        tuple(combination.items()) for combination in combinations}
    assert parameter.suggest(optuna.trial.FixedTrial({"ParameterSet": 1})) == combinations[1]
    study = optuna.create_study()
    trial = study.ask()
    parameter.suggest(trial)
    assert trial.params["ParameterSet"] in (0, 1)
    assert parameter.grid_values() == combinations


def test_sample_gives_the_text_to_store_by_full_name() -> None:
    space = SearchSpace([
        UniformParameterRange("General/lr", 0.0001, 0.01),
        UniformIntegerParameterRange("General/batch", 16, 64, 16),
        DiscreteParameterRange("General/shuffle", [True, False]),
        DiscreteParameterRange("General/optimizer", ["adam", "sgd"]),
        ParameterSet([{"Args/a": 1, "Args/b": 1e-05}, {"Args/a": 2, "Args/b": 0.5}]),
    ])
    trial = optuna.trial.FixedTrial({"General/lr": 0.001, "General/batch": 32,
                                     "General/shuffle": True, "General/optimizer": "adam",
                                     "ParameterSet": 0})
    assert space.sample(trial) == {"General/lr": "0.001", "General/batch": "32",
                                   "General/shuffle": "True", "General/optimizer": "adam",
                                   "Args/a": "1", "Args/b": "1e-05"}
    sampled = space.sample(optuna.create_study().ask())
    assert list(sampled) == space.task_keys()
    assert all(isinstance(value, str) for value in sampled.values())


def test_format_value() -> None:
    assert [format_value(value) for value in (32, 0.001, 0.1 + 0.2, "relu", False, 1e-7)] == [
        "32", "0.001", "0.30000000000000004", "relu", "False", "1e-07"]


# ---------------------------------------------------------------- storage
ALL_KINDS: list[ParameterRange] = [
    UniformParameterRange("General/lr", 0.0001, 0.01),
    UniformParameterRange("u", 0, 1, step_size=0.1, include_max_value=False),
    LogUniformParameterRange("lr", 1e-5, 0.1),
    UniformIntegerParameterRange("Args/batch", 16, 128, step_size=16, include_max_value=False),
    DiscreteParameterRange("opt", ["adam", 2, 0.5, True]),
    GridParameterRange("units", [64, 128]),
    ParameterSet([{"a": 1, "General/b": "x"}, {"a": 2}], name="pairs"),
]


@pytest.mark.parametrize("parameter", ALL_KINDS, ids=lambda parameter: parameter.kind)
def test_each_kind_round_trips_through_json(parameter: ParameterRange) -> None:
    data = json.loads(json.dumps(parameter.to_dict()))
    again = parameter_from_dict(data)
    assert type(again) is type(parameter)
    assert again == parameter
    assert again.to_dict() == parameter.to_dict()
    assert again.grid_values() == parameter.grid_values()


def test_kinds_in_to_dict() -> None:
    assert [parameter.to_dict()["kind"] for parameter in ALL_KINDS] == [
        "uniform", "uniform", "loguniform", "int", "choice", "grid", "set"]


def test_search_space_round_trips() -> None:
    space = SearchSpace(ALL_KINDS)
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space
    assert [type(parameter) for parameter in again.parameters] == [
        type(parameter) for parameter in ALL_KINDS]


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "normal", "name": "x"}, "unknown kind 'normal'"),
    ({"kind": "uniform", "name": "x", "min": 0}, "lacks max"),
    ({"kind": "choice", "name": "x", "values": [1], "step": 2}, "has no field step"),
    ({"kind": "uniform", "name": "x", "min": 0, "max": 1, "include_max": "yes"},
     "include_max_value must be true or false"),
    ("uniform(0, 1)", "must be a mapping"),
])
def test_parameter_from_dict_refuses(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parameter_from_dict(data)


def test_from_dict_refuses_a_malformed_space() -> None:
    with pytest.raises(InvalidInput, match="list 'parameters'"):
        SearchSpace.from_dict({"params": []})


def test_space_refuses_empty_and_duplicates() -> None:
    with pytest.raises(InvalidInput, match="no parameters"):
        SearchSpace([])
    with pytest.raises(InvalidInput, match="names parameter 'lr' twice"):
        SearchSpace([UniformParameterRange("lr", 0, 1), DiscreteParameterRange("lr", [1])])
    with pytest.raises(InvalidInput, match="sets parameter 'General/a' twice"):
        SearchSpace([DiscreteParameterRange("General/a", [1]),
                     ParameterSet([{"General/a": 2}])])
    with pytest.raises(InvalidInput, match="names parameter 'ParameterSet' twice"):
        SearchSpace([ParameterSet([{"a": 1}]), ParameterSet([{"b": 1}])])


# ---------------------------------------------------------------- grid
def test_grid_is_the_cartesian_product_in_order() -> None:
    space = SearchSpace([
        DiscreteParameterRange("General/batch", [16, 32]),
        UniformParameterRange("General/dropout", 0.1, 0.3, step_size=0.1),
        ParameterSet([{"Args/a": 1, "Args/b": "x"}, {"Args/a": 2, "Args/b": "y"}]),
    ])
    grid = space.grid()
    assert space.grid_size() == len(grid) == 2 * 3 * 2
    assert grid[0] == {"General/batch": "16", "General/dropout": "0.1", "Args/a": "1",
                       "Args/b": "x"}
    assert grid[1] == {"General/batch": "16", "General/dropout": "0.1", "Args/a": "2",
                       "Args/b": "y"}
    assert grid[-1] == {"General/batch": "32", "General/dropout": "0.3", "Args/a": "2",
                        "Args/b": "y"}
    assert len({tuple(point.items()) for point in grid}) == len(grid)


@pytest.mark.parametrize("continuous", [UniformParameterRange("General/lr", 0.0001, 0.01),
                                        LogUniformParameterRange("General/lr", 1e-4, 1e-2)])
def test_grid_refuses_a_continuous_range_naming_it(continuous: ParameterRange) -> None:
    space = SearchSpace([DiscreteParameterRange("General/batch", [16, 32]), continuous])
    assert space.grid_size() is None
    with pytest.raises(InvalidInput, match=r"parameter 'General/lr' is continuous.*step"):
        space.grid()


def test_grid_refuses_more_than_the_limit_without_listing_it() -> None:
    space = SearchSpace([UniformIntegerParameterRange("a", 0, 10**9),
                         UniformParameterRange("b", 0, 1, step_size=1e-9)])
    assert space.grid_size() == (10**9 + 1) ** 2
    with pytest.raises(InvalidInput, match=f"more than the {GRID_LIMIT}"):
        space.grid()


# ---------------------------------------------------------------- resolve
def test_resolve_full_and_bare_names() -> None:
    space = SearchSpace([UniformParameterRange("General/lr", 0.001, 0.1),
                         DiscreteParameterRange("batch", [16, 32]),
                         ParameterSet([{"epochs": 1, "Args/seed": 1}])])
    resolved = space.resolve(base("General/lr", "General/batch", "Args/epochs", "Args/seed"))
    assert [parameter.name for parameter in resolved.parameters] == [
        "General/lr", "General/batch", "ParameterSet"]
    assert resolved.task_keys() == ["General/lr", "General/batch", "Args/epochs", "Args/seed"]
    assert resolved.parameters[1] == DiscreteParameterRange("General/batch", [16, 32])
    assert space.parameters[1].name == "batch"  # the original is untouched


def test_resolve_a_name_that_contains_a_slash() -> None:
    space = SearchSpace([DiscreteParameterRange("model/units", [1, 2])])
    assert space.resolve(base("Args/model/units")).task_keys() == ["Args/model/units"]


def test_resolve_refuses_an_ambiguous_bare_name_naming_the_candidates() -> None:
    space = SearchSpace([DiscreteParameterRange("batch", [16, 32])])
    with pytest.raises(InvalidInput, match=r"'batch' is ambiguous.*Args/batch, General/batch"):
        space.resolve(base("Args/batch", "General/batch"))


@pytest.mark.parametrize("name", ["momentum", "Args/lr"])
def test_resolve_refuses_an_unknown_parameter_listing_those_there(name: str) -> None:
    space = SearchSpace([DiscreteParameterRange(name, [1, 2])])
    with pytest.raises(InvalidInput) as caught:
        space.resolve(base("General/lr", "General/batch"))
    assert caught.value.message == (f"the base task has no parameter {name!r} "
                                    f"(it has: General/lr, General/batch)")


def test_resolve_refuses_parameter_set_keys_like_any_other() -> None:
    space = SearchSpace([ParameterSet([{"lr": 1, "nope": 2}])])
    with pytest.raises(InvalidInput, match="no parameter 'nope'"):
        space.resolve(base("General/lr"))
    with pytest.raises(InvalidInput, match="no parameter 'x' .it has: none"):
        SearchSpace([DiscreteParameterRange("x", [1])]).resolve([])


def test_resolve_refuses_two_names_for_one_parameter() -> None:
    space = SearchSpace([DiscreteParameterRange("lr", [1]),
                         DiscreteParameterRange("General/lr", [2])])
    with pytest.raises(InvalidInput, match="'General/lr' twice"):
        space.resolve(base("General/lr"))


# ---------------------------------------------------------------- YAML
def test_parse_the_source_documents_example() -> None:
    space = parse_space(SOURCE_EXAMPLE)
    assert space == SearchSpace([
        UniformParameterRange("learning_rate", 0.0001, 0.01),
        DiscreteParameterRange("dropout_rate", [0.2, 0.3, 0.4]),
        DiscreteParameterRange("batch_size", [16, 32, 64]),
    ])
    batch = space.parameters[2]
    assert isinstance(batch, DiscreteParameterRange)
    assert all(type(value) is int for value in batch.values)
    resolved = space.resolve(base("General/learning_rate", "General/dropout_rate",
                                  "General/batch_size", "General/epochs"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        values = resolved.sample(study.ask())
        assert 0.0001 <= float(values["General/learning_rate"]) <= 0.01
        assert values["General/dropout_rate"] in ("0.2", "0.3", "0.4")
        assert values["General/batch_size"] in ("16", "32", "64")


def test_parse_every_form() -> None:
    space = parse_space("""
        General/dropout: uniform(0.1, 0.5, 0.1)
        lr: loguniform(1e-5, 1e-1)
        epochs: int(5, 20)
        units: int(16, 128, step=16)
        optimizer: grid([adam, "sgd", 'rms prop'])
        flags: choice([true, False, 3, 2.5, "x"])
        layers: [1, 2, 3]
        Activation: Choice(["relu", "tanh"])
    """)
    assert space.parameters == [
        UniformParameterRange("General/dropout", 0.1, 0.5, step_size=0.1),
        LogUniformParameterRange("lr", 1e-5, 0.1),
        UniformIntegerParameterRange("epochs", 5, 20),
        UniformIntegerParameterRange("units", 16, 128, step_size=16),
        GridParameterRange("optimizer", ["adam", "sgd", "rms prop"]),
        DiscreteParameterRange("flags", [True, False, 3, 2.5, "x"]),
        DiscreteParameterRange("layers", [1, 2, 3]),
        DiscreteParameterRange("Activation", ["relu", "tanh"]),
    ]
    flags = space.parameters[5]
    assert isinstance(flags, DiscreteParameterRange)
    assert [type(value) for value in flags.values] == [bool, bool, int, float, str]


@pytest.mark.parametrize(("text", "message"), [
    ("lr: normal(0, 1)",
     "parameter 'lr': unknown distribution 'normal' in 'normal(0, 1)'; the known ones are "
     "choice, grid, int, loguniform, uniform"),
    ("lr: uniform(0.1, 0.01)",
     "parameter 'lr': the low bound 0.1 must be below the high bound 0.01"),
    ("lr: uniform(0.1, 0.1)", "parameter 'lr': the low bound 0.1 must be below"),
    ("n: int(10, 1)", "parameter 'n': the low bound 10 must be below the high bound 1"),
    ("opt: choice([])", "parameter 'opt': a choice needs a non-empty list of values, not []"),
    ("opt: grid([])", "parameter 'opt': a grid needs a non-empty list"),
    ("opt: []", "parameter 'opt': a choice needs a non-empty list"),
    ("lr: uniform(low, 0.1)", "parameter 'lr': the low bound 'low' is not a number"),
    ("lr: uniform(0.001, '1')", "parameter 'lr': the high bound '1' is not a number"),
    ("lr: uniform(0, inf)", "parameter 'lr': the high bound 'inf' is not a number"),
    ("lr: uniform(0, 1e999)", "parameter 'lr': the high bound inf is not finite"),
    ("lr: loguniform(0, 0.1)",
     "parameter 'lr': a log range must lie above zero, but its low bound is 0"),
    ("lr: loguniform(-1, 1)", "parameter 'lr': a log range must lie above zero"),
    ("n: int(1, 10, 0)", "parameter 'n': the step must be above zero, not 0"),
    ("x: uniform(0, 1, -0.5)", "parameter 'x': the step must be above zero, not -0.5"),
    ("x: uniform(0, 1, step=0)", "parameter 'x': the step must be above zero"),
    ("n: int(1, 10, 0.5)", "parameter 'n': the step 0.5 of an integer range is not a whole"),
    ("n: int(1.5, 10)", "parameter 'n': the low bound 1.5 of an integer range is not a whole"),
    ("lr: uniform(0.1)",
     "parameter 'lr': uniform takes 2 to 3 arguments, got 1 in 'uniform(0.1)'"),
    ("lr: uniform(0, 1, 0.1, 7)", "parameter 'lr': uniform takes 2 to 3 arguments, got 4"),
    ("lr: loguniform(0.1, 1, 0.1)", "parameter 'lr': loguniform takes 2 arguments, got 3"),
    ("lr: loguniform(0.1, 1, step=0.1)", "parameter 'lr': loguniform takes no argument step="),
    ("x: uniform(0, 1, 0.1, step=0.2)", "parameter 'x': the step is given twice"),
    ("x: uniform(0, 1, scale=2)", "parameter 'x': uniform takes no argument scale="),
    ("opt: choice(1, 2)", "parameter 'opt': choice takes 1 argument, got 2"),
    ("opt: choice()", "parameter 'opt': choice takes 1 argument, got 0"),
    ("opt: choice(adam)", "parameter 'opt': choice takes one list of values, got 'adam'"),
    ("lr: uniform(1,", "parameter 'lr': cannot read the range expression 'uniform(1,'"),
    ("lr: uniform(0, 1", "parameter 'lr': cannot read the range expression"),
    ("lr: uniform(*bounds)", "parameter 'lr': cannot read the range expression"),
    ("lr: os.system('x')", "parameter 'lr': cannot read the range expression"),
    ("lr: uniform", "parameter 'lr': 'uniform' lacks its arguments"),
    ("opt: adam", "parameter 'opt': 'adam' is not a range"),
    ("lr: 0.01", "parameter 'lr': 0.01 is a single value, not a range; write a range such as "
     "choice([0.01])"),
    ("General:\n  lr: uniform(0, 1)", "parameter 'General': a nested mapping is not a range"),
    ("opt: choice([[1, 2], [3]])",
     "parameter 'opt': the value [1, 2] of the choice is not a number, text or boolean"),
    ("opt: choice([1, 1.0])", "parameter 'opt': the choice lists 1 and 1.0, which are equal"),
    ("opt: choice([null])", "parameter 'opt': the value None of the choice is not a number"),
    ("- lr\n- batch", "the search space must be a YAML mapping of parameter names to ranges"),
    ("uniform(0, 1)", "the search space must be a YAML mapping"),
    ("", "the search space is empty"),
    ("{}", "the search space has no parameters"),
    ("lr: [0.1, 0.2", "the search space is not valid YAML"),
    ("1: uniform(0, 1)", "search space key 1 is not a parameter name"),
    ("lr: uniform(0, 1)\nlr: uniform(0, 2)",
     "the search space names parameter 'lr' twice (line 2)"),
    ("opt: choice([relu, f(x)])",
     "parameter 'opt': cannot read the argument 'f(x)' in 'choice([relu, f(x)])'"),
])
def test_parse_refuses_bad_specs_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_space(text)
    assert message in caught.value.message


def test_parse_never_evaluates_the_expression(tmp_path: Any) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(InvalidInput, match="cannot read the argument"):
        parse_space(f"x: choice([__import__('pathlib').Path({str(marker)!r}).touch()])")
    assert not marker.exists()


def test_constructors_refuse_what_parse_refuses() -> None:
    with pytest.raises(InvalidInput, match="parameter 'lr': a log range must lie above zero"):
        LogUniformParameterRange("lr", 0.0, 1.0)
    with pytest.raises(InvalidInput, match="the high bound nan is not finite"):
        UniformParameterRange("x", 0.0, math.nan)
    with pytest.raises(InvalidInput, match="parameter set 'ParameterSet' needs a non-empty"):
        ParameterSet([])
    with pytest.raises(InvalidInput, match="each combination must be a non-empty mapping"):
        ParameterSet([{}])
    with pytest.raises(InvalidInput, match="lists the combination"):
        ParameterSet([{"a": 1}, {"a": 1}])
    with pytest.raises(InvalidInput, match="malformed name '/lr'"):
        UniformParameterRange("/lr", 0, 1)
    with pytest.raises(InvalidInput, match="needs a name"):
        DiscreteParameterRange("", [1])
