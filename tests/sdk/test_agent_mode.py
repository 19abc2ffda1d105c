"""Under an agent (TUNEHOUSE_TASK_ID) Task.init attaches and the stored values win."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sdk.conftest import Backend, json_from, task_id_from
from tunehouse.errors import InvalidInput
from tunehouse.sdk.task import Task
from tunehouse.store.records import Parameter, StatusChange, TaskCreate, TaskStatus


def _task_with_params(backend: Backend, params: list[Parameter]) -> str:
    task = backend.store.tasks.create_task(TaskCreate(project="sdk/agent", name="trial"))
    backend.store.tasks.set_parameters(task.id, params)
    return task.id


@pytest.mark.parametrize("order", ["before", "after"])
def test_argparse_values_come_from_the_task(backend: Backend, order: str) -> None:
    task_id = _task_with_params(backend, [
        Parameter(section="Args", name="lr", value="0.5", type="float"),
        Parameter(section="Args", name="epochs", value="7", type="str"),
        Parameter(section="Args", name="augment", value="true", type="bool"),
        Parameter(section="General", name="batch", value="64", type="int"),
    ])
    done = backend.run("args_script.py", order, "--lr", "0.01", TUNEHOUSE_TASK_ID=task_id)
    assert done.returncode == 0, done.stderr
    assert task_id_from(done.stdout) == task_id
    args = json_from(done.stdout, "ARGS")
    assert args["lr"] == [0.5, "float"]
    assert args["epochs"] == [7, "int"]
    assert args["augment"] == [True, "bool"]
    assert args["optimizer"] == ["sgd", "str"]
    config = json_from(done.stdout, "CONFIG")
    assert config["batch"] == [64, "int"]
    assert config["layers"] == [[8, 8], "list"]
    record = backend.store.tasks.get_task(task_id)
    assert record.status == TaskStatus.completed and record.attempt == 1
    stored = {(p.section, p.name): p for p in backend.store.tasks.get_parameters(task_id)}
    assert stored[("Args", "lr")].value == "0.5"
    assert stored[("Args", "optimizer")].value == "sgd"  # defaults the task lacked are added
    assert stored[("General", "layers")].value == "[8, 8]"


def test_uncastable_stored_value_names_the_parameter(backend: Backend) -> None:
    task_id = _task_with_params(backend, [Parameter(section="Args", name="lr", value="fast",
                                                    type="str")])
    done = backend.run("args_script.py", TUNEHOUSE_TASK_ID=task_id)
    assert done.returncode == 1
    assert "InvalidInput: parameter 'Args/lr': cannot cast 'fast' to float" in done.stderr
    assert backend.store.tasks.get_task(task_id).status == TaskStatus.failed


def test_connect_in_process_types_and_overrides(backend: Backend) -> None:
    settings = backend.settings
    task = Task.init("sdk/inproc", "connect", auto_connect_streams=False,
                     auto_resource_monitoring=False, settings=settings)
    try:
        values = {"i": 1, "f": 0.5, "b": False, "s": "x", "n": None, "l": [1, "a"],
                  "t": (1, 2), "nested": {"deep": {"x": 3}}, "empty": {}}
        assert task.connect(values) is values
        typed = task.get_parameters()
        assert typed == {"General/i": 1, "General/f": 0.5, "General/b": False, "General/s": "x",
                         "General/n": None, "General/l": [1, "a"], "General/t": (1, 2),
                         "General/nested.deep.x": 3, "General/empty": {}}
        assert {type(v) for k, v in typed.items() if k in ("General/i", "General/b")} == {int,
                                                                                          bool}
        task.set_parameters({"Extra/w": 2.5, "plain": "v"})
        assert task.get_parameters()["Extra/w"] == 2.5
        assert task.get_parameters()["General/plain"] == "v"
        task_id = task.id
    finally:
        task.close()
    assert Task.current_task() is None

    # the same script "under an agent" gets the edited values, cast to the script's types
    backend.store.tasks.change_status(task_id, StatusChange(status=TaskStatus.created, force=True))
    backend.store.tasks.set_parameters(task_id, [
        Parameter(section="General", name="i", value="5", type="str"),
        Parameter(section="General", name="f", value="2", type="str"),
        Parameter(section="General", name="b", value="yes", type="str"),
        Parameter(section="General", name="t", value="[3, 4]", type="str"),
        Parameter(section="General", name="nested.deep.x", value="9", type="int"),
        Parameter(section="General", name="added", value="true", type="bool"),
    ])
    agent_settings = settings.replace(task_id=task_id)
    attached = Task.init("ignored", "ignored", auto_connect_streams=False,
                         auto_resource_monitoring=False, settings=agent_settings)
    try:
        assert attached.id == task_id
        fresh = {"i": 1, "f": 0.5, "b": False, "s": "x", "n": None, "l": [1, "a"],
                 "t": (1, 2), "nested": {"deep": {"x": 3}}}
        got = attached.connect(fresh)
        assert got is fresh
        assert fresh == {"i": 5, "f": 2.0, "b": True, "s": "x", "n": None, "l": [1, "a"],
                         "t": (3, 4), "nested": {"deep": {"x": 9}}, "added": True,
                         "empty": {}, "plain": "v"}  # stored names the dict lacked are added
        assert type(fresh["f"]) is float and type(fresh["t"]) is tuple
    finally:
        attached.close()
    assert backend.store.tasks.get_task(task_id).status == TaskStatus.completed


def test_cast_error_in_process(embedded: Backend) -> None:
    task = embedded.store.tasks.create_task(TaskCreate(project="sdk/agent", name="bad"))
    embedded.store.tasks.set_parameters(task.id, [
        Parameter(section="Model", name="layers", value="not a list", type="str")])
    attached = Task.init(auto_connect_streams=False, auto_resource_monitoring=False,
                         settings=embedded.settings.replace(task_id=task.id))
    try:
        with pytest.raises(InvalidInput, match="parameter 'Model/layers'") as info:
            attached.connect({"layers": [1, 2]}, name="Model")
        assert info.value.detail["parameter"] == "Model/layers"
    finally:
        attached.close()


def test_connect_configuration_override(embedded: Backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    task = Task.init("sdk/cfg", "cfg", auto_connect_streams=False,
                     auto_resource_monitoring=False, settings=embedded.settings)
    config_file = tmp_path / "config.yaml"
    config_file.write_text("lr: 0.1\n")
    try:
        assert task.connect_configuration(str(config_file), name="file") == str(config_file)
        task.connect_configuration({"a": 1}, name="dict")
        task_id = task.id
    finally:
        task.close()
    embedded.store.tasks.change_status(task_id, StatusChange(status=TaskStatus.created, force=True))
    from tunehouse.store.records import Configuration

    embedded.store.tasks.set_configuration(task_id, Configuration(name="file", text="lr: 0.7\n"))
    embedded.store.tasks.set_configuration(task_id, Configuration(name="dict", text='{"a": 2}'))
    attached = Task.init(auto_connect_streams=False, auto_resource_monitoring=False,
                         settings=embedded.settings.replace(task_id=task_id))
    try:
        path = attached.connect_configuration(str(config_file), name="file")
        assert path != str(config_file)
        assert Path(path).read_text() == "lr: 0.7\n"
        assert attached.connect_configuration({"a": 1}, name="dict") == {"a": 2}
    finally:
        attached.close()
