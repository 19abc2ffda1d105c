"""Remote execution from the SDK: ``execute_remotely``, ``Task.clone`` with parameter
overrides, ``Task.enqueue``. Scripts run as real processes; the checks read the real store
(embedded SQLite, or the session's server over HTTP)."""

from __future__ import annotations

import uuid

import pytest

from tests.sdk.conftest import Backend, task_id_from
from tunehouse.errors import InvalidInput
from tunehouse.sdk.task import Task
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE
from tunehouse.store.records import Parameter, TaskCreate, TaskQuery, TaskStatus


def _queue() -> str:
    return f"remote-{uuid.uuid4().hex[:10]}"


def _params(backend: Backend, task_id: str) -> dict[str, tuple[str, str]]:
    return {f"{p.section}/{p.name}": (p.value, p.type)
            for p in backend.store.tasks.get_parameters(task_id)}


def test_execute_remotely_queues_the_task_and_ends_the_process(backend: Backend) -> None:
    queue = _queue()
    done = backend.run("remote_script.py", "--lr", "0.5", REMOTE_QUEUE=queue)
    assert done.returncode == 0, done.stderr
    assert "AFTER_EXECUTE_REMOTELY" not in done.stdout  # the process ended at the call
    task_id = task_id_from(done.stdout)
    assert f"task {task_id} queued in '{queue}'" in done.stderr
    record = backend.store.tasks.get_task(task_id)
    assert record.status == TaskStatus.queued and record.queue == queue
    assert [e.task_id for e in backend.store.queues.list_queue_entries(queue)] == [task_id]
    script = backend.store.tasks.get_script(task_id)
    assert script.entry_point.endswith("remote_script.py") or "execute_remotely" in \
        script.script_text
    assert backend.store.tasks.get_environment(task_id).python
    params = _params(backend, task_id)
    assert params["Args/lr"] == ("0.5", "float") and params["General/batch"] == ("32", "int")

    # the agent's run of the same script: the call does nothing and the script goes on
    again = backend.run("remote_script.py", TUNEHOUSE_TASK_ID=task_id)
    assert again.returncode == 0, again.stderr
    assert "AFTER_EXECUTE_REMOTELY" in again.stdout and "RESULT=None" in again.stdout
    assert "VALUES=0.5,32" in again.stdout  # the stored values, not the defaults
    assert backend.store.tasks.get_task(task_id).status == TaskStatus.completed
    assert backend.store.queues.list_queue_entries(queue) == []


def test_execute_remotely_with_clone_keeps_the_original(backend: Backend) -> None:
    queue = _queue()
    done = backend.run("remote_script.py", "clone", "--lr", "0.25", REMOTE_QUEUE=queue)
    assert done.returncode == 0, done.stderr
    assert "AFTER_EXECUTE_REMOTELY" not in done.stdout
    original = task_id_from(done.stdout)
    assert backend.store.tasks.get_task(original).status == TaskStatus.completed
    [entry] = backend.store.queues.list_queue_entries(queue)
    assert entry.task_id != original
    clone = backend.store.tasks.get_task(entry.task_id)
    assert clone.status == TaskStatus.queued and clone.queue == queue
    assert _params(backend, clone.id)["Args/lr"] == ("0.25", "float")
    assert backend.store.tasks.get_script(clone.id) == backend.store.tasks.get_script(original)
    backend.store.queues.dequeue(clone.id)


def test_execute_remotely_without_exit_in_process(embedded: Backend) -> None:
    task = Task.init("sdk/remote", "in process", auto_connect_streams=False,
                     auto_resource_monitoring=False, settings=embedded.settings)
    task.connect({"width": 8})
    clone = task.execute_remotely(clone=True, exit_process=False)
    assert clone is not None and clone.id != task.id and task.running
    assert clone.get_status() == "queued" and clone.record.queue == DEFAULT_QUEUE
    assert clone.get_parameters()["General/width"] == 8

    same = task.execute_remotely(queue_name="later", exit_process=False)
    assert same is task and not task.running and Task.current_task() is None
    record = embedded.store.tasks.get_task(task.id)
    assert record.status == TaskStatus.queued and record.queue == "later"
    with pytest.raises(InvalidInput, match="running task"):
        task.execute_remotely(exit_process=False)  # closed: nothing runs here any more


def test_clone_with_parameter_overrides(sdk_env: Backend) -> None:
    store = sdk_env.store
    project = f"sdk/clone-{uuid.uuid4().hex[:8]}"
    source = store.tasks.create_task(TaskCreate(project=project, name="source", tags=["t"]))
    store.tasks.set_parameters(source.id, [
        Parameter(section="Args", name="lr", value="0.1", type="float"),
        Parameter(section="Args", name="batch", value="32", type="int"),
        Parameter(section="General", name="batch", value="64", type="int"),
        Parameter(section="General", name="epochs", value="3", type="int"),
        Parameter(section="General", name="optimizer", value="sgd", type="str"),
    ])
    clone = Task.clone(source.id, name="tuned", comment="lr up", parent=source.id,
                       parameter_overrides={"Args/lr": 0.5, "epochs": "7",
                                            "optimizer": "adam", "Extra/layers": [8, 8]})
    assert clone.record.status == TaskStatus.created and clone.name == "tuned"
    assert clone.record.parent_id == source.id and clone.record.comment == "lr up"
    assert clone.record.tags == ["t"] and clone.project == project
    params = _params(sdk_env, clone.id)
    assert params["Args/lr"] == ("0.5", "float")
    assert params["General/epochs"] == ("7", "int")
    assert params["General/optimizer"] == ("adam", "str")
    assert params["Extra/layers"] == ("[8, 8]", "list")
    assert params["Args/batch"] == ("32", "int")
    assert _params(sdk_env, source.id)["Args/lr"] == ("0.1", "float")  # source untouched

    with pytest.raises(InvalidInput, match=r"ambiguous: Args/batch, General/batch"):
        Task.clone(source.id, parameter_overrides={"batch": 16})
    with pytest.raises(InvalidInput, match=r"unknown parameter 'lrate'.*Section/lrate"):
        Task.clone(source.id, parameter_overrides={"lrate": 0.5})
    with pytest.raises(InvalidInput, match=r"parameter 'General/epochs': cannot cast 'many'"):
        Task.clone(source.id, parameter_overrides={"epochs": "many"})
    page = store.tasks.list_tasks(TaskQuery(project=project))
    assert page.total == 2  # the refused overrides left no clone behind

    queued = Task.enqueue(clone)
    assert queued.record.status == TaskStatus.queued and queued.record.queue == DEFAULT_QUEUE
    store.queues.dequeue(clone.id)
    queue = _queue()
    named = Task.enqueue(clone.id, queue_name=queue, priority=3)
    assert named.record.queue == queue
    assert [(e.task_id, e.priority) for e in store.queues.list_queue_entries(queue)] == [
        (clone.id, 3)]
    store.queues.dequeue(clone.id)
