"""The Store contract, run against every backend (SQLite, PostgreSQL, HTTP to a server).

The HTTP backend shares one server per module, so every test names its projects, queues,
models, workers and users uniquely (``unique()``).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
import uuid
from datetime import UTC, datetime

import pytest

from tunehouse.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    ArtifactCreate,
    Configuration,
    Environment,
    EventBatch,
    ModelCreate,
    ModelUpdate,
    Parameter,
    Script,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
    TaskType,
    TaskUpdate,
    WorkerHeartbeat,
)

S = TaskStatus


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def batch_id() -> str:
    return uuid.uuid4().hex


def new_task(store: Store, project: str | None = None, **fields: object) -> str:
    spec = TaskCreate(project=project or unique("proj"), name=str(fields.pop("name", "task")),
                      **fields)  # type: ignore[arg-type]
    return store.create_task(spec).id


def move(store: Store, task_id: str, status: TaskStatus, **fields: object) -> None:
    store.change_status(task_id, StatusChange(status=status, **fields))  # type: ignore[arg-type]


def put_bytes(store: Store, data: bytes) -> tuple[str, int]:
    blob = store.put_blob(io.BytesIO(data))
    return blob.sha256, blob.size


# ---------------------------------------------------------------- projects
def test_projects_are_hierarchical_and_created_once(store: Store) -> None:
    root = unique("team")
    child = store.get_or_create_project(f"{root}/vision/mnist", description="digits")
    again = store.get_or_create_project(f" {root} / vision / mnist ")
    assert again.id == child.id
    assert child.name == f"{root}/vision/mnist"
    assert child.description == "digits"
    assert child.user == store.user
    assert child.created.tzinfo is not None and child.created.utcoffset().total_seconds() == 0
    assert store.get_project(child.id) == child
    assert store.get_project(child.name) == child
    names = [p.name for p in store.list_projects()]
    assert child.name in names and names == sorted(names)


@pytest.mark.parametrize("bad", ["", "a//b", "/a", "a/", "a/../b", "  "])
def test_invalid_project_names_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.get_or_create_project(bad)


def test_unknown_project_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_project(unique("missing"))


# ---------------------------------------------------------------- tasks
def test_create_and_get_task(store: Store) -> None:
    project = unique("proj")
    task = store.create_task(TaskCreate(project=project, name="train", type=TaskType.testing,
                                        tags=["a", "b"], comment="hello", max_retries=2))
    assert task.status is S.created
    assert task.project == project
    assert task.type is TaskType.testing
    assert task.tags == ["a", "b"]
    assert task.user == store.user
    assert task.attempt == 0 and task.max_retries == 2
    assert task.created.tzinfo is not None
    assert store.get_task(task.id) == task
    assert store.get_project(project).id == task.project_id


def test_unknown_ids_are_not_found(store: Store) -> None:
    missing = uuid.uuid4().hex
    calls = [
        lambda: store.get_task(missing),
        lambda: store.update_task(missing, TaskUpdate(comment="x")),
        lambda: store.change_status(missing, StatusChange(status=S.in_progress)),
        lambda: store.request_abort(missing),
        lambda: store.clone_task(missing),
        lambda: store.delete_task(missing),
        lambda: store.set_parameters(missing, [Parameter(name="x")]),
        lambda: store.get_parameters(missing),
        lambda: store.set_configuration(missing, Configuration(name="c", text="t")),
        lambda: store.get_configurations(missing),
        lambda: store.set_script(missing, Script()),
        lambda: store.get_script(missing),
        lambda: store.set_environment(missing, Environment()),
        lambda: store.get_environment(missing),
        lambda: store.add_events(EventBatch(batch_id=batch_id(), task_id=missing,
                                            scalars=[("a", "b", 0, 1.0, 0.0)])),
        lambda: store.get_metric_summaries(missing),
        lambda: store.get_scalars(missing),
        lambda: store.get_logs(missing),
        lambda: store.list_artifacts(missing),
        lambda: store.get_model(missing),
        lambda: store.find_model(unique("model")),
        lambda: store.enqueue(missing, unique("queue")),
        lambda: store.dequeue(missing),
        lambda: store.list_queue_entries(unique("queue")),
        lambda: store.get_user(unique("user")),
        lambda: store.set_user_disabled(unique("user"), True),
        lambda: store.create_api_key(unique("user")),
        lambda: store.revoke_api_key("TH" + "A" * 20),
        lambda: store.create_task(TaskCreate(project=unique("p"), name="n", parent_id=missing)),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()


def test_update_task(store: Store) -> None:
    task_id = new_task(store)
    before = store.get_task(task_id)
    updated = store.update_task(task_id, TaskUpdate(name="renamed", comment="c", tags=["x"],
                                                    max_retries=3, status_message="m",
                                                    last_iteration=7))
    assert (updated.name, updated.comment, updated.tags) == ("renamed", "c", ["x"])
    assert (updated.max_retries, updated.status_message, updated.last_iteration) == (3, "m", 7)
    assert updated.updated >= before.updated
    unchanged = store.update_task(task_id, TaskUpdate())
    assert unchanged.name == "renamed"


ALLOWED = {
    S.created: {S.queued, S.in_progress, S.aborted},
    S.queued: {S.created, S.in_progress, S.aborted},
    S.in_progress: {S.completed, S.failed, S.aborted, S.queued},
    S.completed: {S.created},
    S.failed: {S.created},
    S.aborted: {S.created},
}
PATH_TO = {
    S.created: [],
    S.queued: [S.queued],
    S.in_progress: [S.in_progress],
    S.completed: [S.in_progress, S.completed],
    S.failed: [S.in_progress, S.failed],
    S.aborted: [S.aborted],
}


def _task_in(store: Store, status: TaskStatus, queue: str) -> str:
    task_id = new_task(store)
    for step in PATH_TO[status]:
        if step is S.queued:
            store.enqueue(task_id, queue)
        else:
            move(store, task_id, step, worker="w")
    assert store.get_task(task_id).status is status
    return task_id


def test_every_status_transition(store: Store) -> None:
    queue = unique("queue")
    for old in S:
        for new in S:
            task_id = _task_in(store, old, queue)
            if new in ALLOWED[old]:
                if new is S.queued:
                    task = store.enqueue(task_id, queue)
                else:
                    task = store.change_status(task_id, StatusChange(status=new, worker="w"))
                assert task.status is new, (old, new)
            else:
                with pytest.raises(InvalidTransition) as info:
                    store.change_status(task_id, StatusChange(status=new))
                assert old.value in info.value.message and new.value in info.value.message
                assert store.get_task(task_id).status is old


def test_force_allows_reset_abort_and_terminal_overwrite(store: Store) -> None:
    task_id = _task_in(store, S.failed, unique("queue"))
    task = store.change_status(task_id, StatusChange(status=S.completed, force=True))
    assert task.status is S.completed
    running = _task_in(store, S.in_progress, unique("queue"))
    assert store.change_status(running, StatusChange(status=S.created, force=True)).status is S.created


def test_status_change_side_effects(store: Store) -> None:
    task_id = new_task(store)
    running = store.change_status(task_id, StatusChange(status=S.in_progress, worker="w1",
                                                        reason="start", message="go"))
    assert running.started is not None and running.completed is None
    assert running.attempt == 1 and running.worker == "w1"
    assert (running.status_reason, running.status_message) == ("start", "go")
    done = store.change_status(task_id, StatusChange(status=S.completed))
    assert done.completed is not None and done.completed >= done.started
    sha, size = put_bytes(store, b"artifact")
    store.add_artifact(task_id, ArtifactCreate(name="out", sha256=sha, size=size))
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("loss", "train", 0, 1.0, 0.0)],
                                logs=[("stdout", "line", 0.0)]))
    store.set_parameters(task_id, [Parameter(name="lr", value="0.1")])
    reset = store.change_status(task_id, StatusChange(status=S.created))
    assert reset.started is None and reset.completed is None and reset.worker is None
    assert reset.queue is None and not reset.abort_requested and reset.attempt == 0
    assert store.get_scalars(task_id) == []
    assert store.get_metric_summaries(task_id) == []
    assert store.get_logs(task_id) == []
    assert store.list_artifacts(task_id) == []
    assert [p.name for p in store.get_parameters(task_id)] == ["lr"]


def test_attempt_counts_runs(store: Store) -> None:
    queue = unique("queue")
    task_id = new_task(store)
    store.enqueue(task_id, queue, priority=5)
    assert store.claim_task([queue], "w1").attempt == 1  # type: ignore[union-attr]
    requeued = store.change_status(task_id, StatusChange(status=S.queued, reason="retry"))
    assert requeued.queue == queue and requeued.worker is None
    assert [e.priority for e in store.list_queue_entries(queue)] == [5]
    second = store.claim_task([queue], "w2")
    assert second is not None and second.attempt == 2 and second.worker == "w2"


def test_request_abort(store: Store) -> None:
    queue = unique("queue")
    created = new_task(store)
    assert store.request_abort(created, "user").status is S.aborted
    queued = new_task(store)
    store.enqueue(queued, queue)
    aborted = store.request_abort(queued)
    assert aborted.status is S.aborted and aborted.completed is not None
    assert store.list_queue_entries(queue) == []
    running = new_task(store)
    move(store, running, S.in_progress, worker="w")
    flagged = store.request_abort(running, "too slow")
    assert flagged.status is S.in_progress and flagged.abort_requested
    move(store, running, S.aborted)
    with pytest.raises(Conflict):
        store.request_abort(running)


def test_clone_task(store: Store) -> None:
    project = unique("proj")
    source = new_task(store, project, name="base", type=TaskType.optimizer, tags=["t"])
    store.set_parameters(source, [Parameter(section="Args", name="lr", value="0.1", type="float")])
    store.set_configuration(source, Configuration(name="space", text="{}"))
    store.set_script(source, Script(repository="https://example.com/r.git", entry_point="train.py"))
    store.set_environment(source, Environment(python="3.11", packages=["numpy==2.0"]))
    store.add_events(EventBatch(batch_id=batch_id(), task_id=source,
                                scalars=[("loss", "train", 0, 1.0, 0.0)]))
    move(store, source, S.in_progress, worker="w")
    clone = store.clone_task(source, parent_id=source)
    assert clone.name == "base (clone)" and clone.status is S.created
    assert clone.parent_id == source and clone.project == project
    assert clone.type is TaskType.optimizer and clone.tags == ["t"]
    assert clone.user == store.user
    assert store.get_parameters(clone.id) == store.get_parameters(source)
    assert store.get_configurations(clone.id) == store.get_configurations(source)
    assert store.get_script(clone.id) == store.get_script(source)
    assert store.get_environment(clone.id) == store.get_environment(source)
    assert store.get_scalars(clone.id) == []
    other = unique("other")
    named = store.clone_task(source, name="trial 1", project=other)
    assert named.name == "trial 1" and named.project == other and named.parent_id is None


def test_delete_task(store: Store) -> None:
    queue = unique("queue")
    task_id = new_task(store)
    store.enqueue(task_id, queue)
    with pytest.raises(Conflict):
        store.delete_task(task_id)
    move(store, task_id, S.in_progress, worker="w")
    with pytest.raises(Conflict):
        store.delete_task(task_id)
    move(store, task_id, S.completed)
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("a", "b", 0, 1.0, 0.0)], logs=[("stdout", "x", 0.0)]))
    store.set_parameters(task_id, [Parameter(name="p")])
    child = store.clone_task(task_id, parent_id=task_id)
    store.delete_task(task_id)
    with pytest.raises(NotFound):
        store.get_task(task_id)
    assert store.get_task(child.id).parent_id is None


# ---------------------------------------------------------------- parameters & co
def test_parameters_upsert_replace_and_order(store: Store) -> None:
    task_id = new_task(store)
    store.set_parameters(task_id, [
        Parameter(section="General", name="b", value="1", type="int"),
        Parameter(section="Args", name="z", value="x"),
        Parameter(section="General", name="a", value="2", type="int", description="first"),
    ])
    params = store.get_parameters(task_id)
    assert [(p.section, p.name) for p in params] == [("Args", "z"), ("General", "a"),
                                                     ("General", "b")]
    assert params[1].description == "first"
    store.set_parameters(task_id, [Parameter(section="General", name="a", value="3")])
    values = {(p.section, p.name): p.value for p in store.get_parameters(task_id)}
    assert values == {("Args", "z"): "x", ("General", "a"): "3", ("General", "b"): "1"}
    store.set_parameters(task_id, [Parameter(name="only", value="1")], replace=True)
    assert [p.name for p in store.get_parameters(task_id)] == ["only"]
    store.set_parameters(task_id, [], replace=True)
    assert store.get_parameters(task_id) == []


def test_configurations_script_environment(store: Store) -> None:
    task_id = new_task(store)
    assert store.get_configurations(task_id) == []
    assert store.get_script(task_id) == Script()
    assert store.get_environment(task_id) == Environment()
    store.set_configuration(task_id, Configuration(name="b", text="1"))
    store.set_configuration(task_id, Configuration(name="a", text="2", description="d"))
    store.set_configuration(task_id, Configuration(name="b", text="3"))
    assert [(c.name, c.text) for c in store.get_configurations(task_id)] == [("a", "2"), ("b", "3")]
    script = Script(repository="https://github.com/x/y", branch="main", commit="abc",
                    diff="--- a\n+++ b\n", untracked_files=["u.py"], entry_point="train.py",
                    working_dir=".", argv=["--lr", "0.1"])
    store.set_script(task_id, script)
    assert store.get_script(task_id) == script
    env = Environment(python="3.11.9", platform="Linux", hostname="h", cpu="x86", cpu_count=2,
                      memory_gb=24.0, gpus=[{"name": "A100"}], packages=["tensorflow==2.21"],
                      seed=42, extra={"argv": ["a"]})
    store.set_environment(task_id, env)
    assert store.get_environment(task_id) == env


# ---------------------------------------------------------------- events
def test_events_are_stored_once_per_batch(store: Store) -> None:
    task_id = new_task(store)
    batch = EventBatch(batch_id=batch_id(), task_id=task_id,
                       scalars=[("loss", "train", i, float(10 - i), 100.0 + i) for i in range(5)],
                       logs=[("stdout", "a", 1.0), ("stderr", "b", 2.0)])
    first = store.add_events(batch)
    assert (first.duplicate, first.scalars, first.logs) == (False, 5, 2)
    again = store.add_events(batch)
    assert again.duplicate and again.batch_id == batch.batch_id
    [series] = store.get_scalars(task_id)
    assert series.x == [0, 1, 2, 3, 4] and series.total == 5
    assert len(store.get_logs(task_id)) == 2
    assert store.get_task(task_id).last_iteration == 4


def test_summaries_track_last_min_max_and_nan(store: Store) -> None:
    task_id = new_task(store)
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("loss", "train", 0, 3.0, 0.0), ("loss", "train", 1, None, 0.0),
        ("acc", "val", 0, 0.5, 0.0), ("loss", "train", 2, 1.0, 0.0),
    ]))
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("loss", "train", 3, 2.0, 0.0), ("loss", "train", 4, float("nan"), 0.0),
        ("only_nan", "x", 0, None, 0.0),
    ]))
    summaries = {(m.title, m.series): m for m in store.get_metric_summaries(task_id)}
    assert list(summaries) == [("acc", "val"), ("loss", "train"), ("only_nan", "x")]
    loss = summaries[("loss", "train")]
    assert (loss.count, loss.last, loss.min, loss.max, loss.last_iteration) == (5, None, 1.0, 3.0, 4)
    nan_only = summaries[("only_nan", "x")]
    assert (nan_only.min, nan_only.max, nan_only.last) == (None, None, None)
    [series] = store.get_scalars(task_id, title="loss", series="train")
    assert series.y == [3.0, None, 1.0, 2.0, None]
    assert all(v is None or not math.isnan(v) for v in series.y)


def test_scalars_are_read_in_iteration_order(store: Store) -> None:
    task_id = new_task(store)
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
        ("m", "s", 5, 5.0, 0.0), ("m", "s", 1, 1.0, 0.0), ("m", "s", 3, 3.0, 0.0),
        ("m", "s", 1, 1.5, 0.0),
    ]))
    [series] = store.get_scalars(task_id)
    assert series.x == [1, 1, 3, 5] and series.y == [1.0, 1.5, 3.0, 5.0]
    [sampled] = store.get_scalars(task_id, max_points=2)
    assert sampled.x == [1, 5] and sampled.sampled
    assert store.get_metric_summaries(task_id)[0].last_iteration == 5


def test_downsampling_keeps_first_last_and_bound(store: Store) -> None:
    task_id = new_task(store)
    for start in range(0, 5000, 1000):
        store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, scalars=[
            ("loss", "train", i, float(i), 0.0) for i in range(start, start + 1000)
        ] + [("acc", "train", i, 1.0, 0.0) for i in range(start // 100, start // 100 + 10)]))
    full = store.get_scalars(task_id, title="loss")
    assert len(full) == 1 and len(full[0].x) == 5000 and not full[0].sampled
    for max_points in (2, 3, 100, 999, 4999):
        [series] = store.get_scalars(task_id, title="loss", series="train", max_points=max_points)
        assert series.sampled and series.total == 5000
        assert 2 <= len(series.x) <= max_points
        assert series.x[0] == 0 and series.x[-1] == 4999
        assert series.x == sorted(series.x) and series.y == [float(x) for x in series.x]
    short = store.get_scalars(task_id, title="acc", max_points=100)
    assert len(short[0].x) == 50 and not short[0].sampled
    with pytest.raises(InvalidInput):
        store.get_scalars(task_id, max_points=1)
    assert store.get_scalars(task_id, title="nope") == []


def test_logs_after_seq_and_limit(store: Store) -> None:
    task_id = new_task(store)
    for chunk in range(3):
        store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id, logs=[
            ("stdout", f"line {chunk * 10 + i}", float(i)) for i in range(10)]))
    lines = store.get_logs(task_id)
    assert [line.text for line in lines] == [f"line {i}" for i in range(30)]
    seqs = [line.seq for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30 and seqs[0] > 0
    after = store.get_logs(task_id, after_seq=seqs[9], limit=5)
    assert [line.text for line in after] == [f"line {i}" for i in range(10, 15)]
    assert store.get_logs(task_id, after_seq=seqs[-1]) == []


def test_events_work_in_any_status_and_reject_bad_input(store: Store) -> None:
    task_id = _task_in(store, S.completed, unique("queue"))
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("late", "s", 0, 1.0, 0.0)]))
    with pytest.raises(InvalidInput):
        store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                    scalars=[("", "s", 0, 1.0, 0.0)]))
    with pytest.raises(InvalidInput):
        store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                    logs=[("bogus", "x", 0.0)]))
    assert [m.title for m in store.get_metric_summaries(task_id)] == ["late"]


# ---------------------------------------------------------------- blobs and artifacts
def test_blob_round_trip_of_a_few_megabytes(store: Store) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob = store.put_blob(io.BytesIO(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert b"".join(store.open_blob(blob.sha256)) == data
    assert store.put_blob(io.BytesIO(data)) == blob
    with pytest.raises(NotFound):
        b"".join(store.open_blob(hashlib.sha256(b"never stored").hexdigest()))


def test_artifacts_register_and_replace(store: Store) -> None:
    task_id = new_task(store)
    sha, size = put_bytes(store, b"v1")
    first = store.add_artifact(task_id, ArtifactCreate(name="model", sha256=sha, size=size,
                                                       metadata={"epoch": 1}))
    assert first.task_id == task_id and first.created.tzinfo is not None
    sha2, size2 = put_bytes(store, b"version 2")
    store.add_artifact(task_id, ArtifactCreate(name="model", sha256=sha2, size=size2,
                                               kind="keras"))
    store.add_artifact(task_id, ArtifactCreate(name="data", sha256=sha, size=size))
    artifacts = store.list_artifacts(task_id)
    assert [(a.name, a.sha256, a.kind) for a in artifacts] == [("data", sha, "file"),
                                                               ("model", sha2, "keras")]
    missing = hashlib.sha256(b"absent").hexdigest()
    with pytest.raises(NotFound):
        store.add_artifact(task_id, ArtifactCreate(name="x", sha256=missing, size=1))


# ---------------------------------------------------------------- models
def test_model_versions_stages_and_audit(store: Store) -> None:
    name = unique("model")
    task_id = new_task(store)
    sha, size = put_bytes(store, b"weights")
    v1 = store.create_model(ModelCreate(name=name, framework="keras", sha256=sha, size=size,
                                        task_id=task_id, tags=["a"]))
    v2 = store.create_model(ModelCreate(name=name, sha256=sha, size=size))
    v3 = store.create_model(ModelCreate(name=name, sha256=sha, size=size))
    assert [v1.version, v2.version, v3.version] == [1, 2, 3]
    assert v1.user == store.user and v1.task_id == task_id
    assert store.get_model(v2.id) == v2
    assert store.find_model(name).id == v3.id
    assert store.find_model(name, version=1).id == v1.id
    assert [m.version for m in store.list_models(name=name)] == [1, 2, 3]
    assert [m.id for m in store.list_models(task_id=task_id)] == [v1.id]
    with pytest.raises(NotFound):
        store.find_model(name, stage="production")
    with pytest.raises(NotFound):
        store.find_model(name, version=9)
    promoted = store.set_model_stage(name, "production", 3)
    assert promoted.stages == ["production"]
    rolled_back = store.set_model_stage(name, "production", 2)
    assert rolled_back.id == v2.id and rolled_back.stages == ["production"]
    assert store.get_model(v3.id).stages == []
    assert store.find_model(name, stage="production").id == v2.id
    events = store.list_audit_events(target_type="model", target_id=name)
    assert [(e.action, e.details["from"], e.details["to"]) for e in events] == [
        ("model.stage", 3, 2), ("model.stage", None, 3)]
    assert events[0].user == store.user
    with pytest.raises(NotFound):
        store.set_model_stage(name, "production", 7)
    with pytest.raises(InvalidInput):
        store.set_model_stage(name, "bad stage!", 1)


def test_published_models_are_immutable(store: Store) -> None:
    name = unique("model")
    sha, size = put_bytes(store, b"w")
    model = store.create_model(ModelCreate(name=name, sha256=sha, size=size))
    edited = store.update_model(model.id, ModelUpdate(tags=["x"], comment="c"))
    assert (edited.tags, edited.comment) == (["x"], "c")
    published = store.update_model(model.id, ModelUpdate(published=True))
    assert published.published
    assert store.update_model(model.id, ModelUpdate(published=True, comment="c")) == published
    with pytest.raises(Conflict):
        store.update_model(model.id, ModelUpdate(comment="changed"))
    with pytest.raises(Conflict):
        store.update_model(model.id, ModelUpdate(published=False))
    with pytest.raises(NotFound):
        store.create_model(ModelCreate(name=name, sha256=hashlib.sha256(b"no").hexdigest(),
                                       size=2))


# ---------------------------------------------------------------- queues
def test_queue_order_and_dequeue(store: Store) -> None:
    queue = unique("queue")
    low, high, low2 = new_task(store), new_task(store), new_task(store)
    store.enqueue(low, queue, priority=0)
    queued = store.enqueue(high, queue, priority=10)
    store.enqueue(low2, queue, priority=0)
    assert queued.status is S.queued and queued.queue == queue
    entries = store.list_queue_entries(queue)
    assert [e.task_id for e in entries] == [high, low, low2]
    assert [e.priority for e in entries] == [10, 0, 0]
    assert {q.name: q.length for q in store.list_queues()}[queue] == 3
    assert store.get_or_create_queue(queue).length == 3
    back = store.dequeue(low)
    assert back.status is S.created and back.queue is None
    assert [e.task_id for e in store.list_queue_entries(queue)] == [high, low2]
    with pytest.raises(InvalidTransition):
        store.dequeue(low)
    with pytest.raises(InvalidTransition):
        store.enqueue(high, queue)
    with pytest.raises(InvalidInput):
        store.enqueue(low, "bad queue name!")


def test_claim_follows_queue_order_then_priority(store: Store) -> None:
    first, second, empty = unique("q1"), unique("q2"), unique("q3")
    store.get_or_create_queue(empty)
    assert store.claim_task([first, second], "w") is None
    a = new_task(store)
    b = new_task(store)
    c = new_task(store)
    store.enqueue(a, second, priority=100)
    store.enqueue(b, first, priority=0)
    store.enqueue(c, first, priority=1)
    order = []
    while (task := store.claim_task([empty, first, second], "w")) is not None:
        assert task.status is S.in_progress and task.worker == "w"
        order.append(task.id)
    assert order == [c, b, a]
    assert store.list_queue_entries(first) == []


def test_concurrent_claims_hand_out_each_task_once(store: Store) -> None:
    queue = unique("queue")
    task_ids = {new_task(store) for _ in range(24)}
    for task_id in task_ids:
        store.enqueue(task_id, queue)
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        try:
            while (task := store.claim_task([queue], name)) is not None:
                with lock:
                    claimed.append(task.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(claimed) == sorted(task_ids)
    assert all(store.get_task(t).attempt == 1 for t in task_ids)


# ---------------------------------------------------------------- workers
def test_worker_heartbeats(store: Store) -> None:
    name = unique("worker")
    first = store.heartbeat(WorkerHeartbeat(name=name, host="gpu1", queues=["a"], gpus=["0"],
                                            stats={"cpu": 10.0}))
    assert first.user == store.user and first.registered.tzinfo is not None
    second = store.heartbeat(WorkerHeartbeat(name=name, host="gpu1", queues=["a", "b"],
                                             stats={"cpu": 50.0}))
    assert second.registered == first.registered
    assert second.last_heartbeat >= first.last_heartbeat
    assert second.queues == ["a", "b"] and second.stats == {"cpu": 50.0}
    workers = {w.name: w for w in store.list_workers()}
    assert workers[name] == second
    assert name in {w.name for w in store.list_workers(max_age_s=60)}


# ---------------------------------------------------------------- users, keys, audit
def test_users(store: Store) -> None:
    name = unique("user")
    user = store.create_user(name, "s3cret-pass", admin=True)
    assert user.name == name and user.admin and not user.disabled
    assert store.get_user(name) == user
    assert name in {u.name for u in store.list_users()}
    with pytest.raises(Conflict):
        store.create_user(name, "other")
    with pytest.raises(InvalidInput):
        store.create_user("bad name!", "pw")
    assert store.verify_password(name, "s3cret-pass") == user
    with pytest.raises(AuthenticationFailed) as wrong:
        store.verify_password(name, "wrong")
    with pytest.raises(AuthenticationFailed) as unknown:
        store.verify_password(unique("ghost"), "s3cret-pass")
    assert wrong.value.message == unknown.value.message
    assert store.set_user_disabled(name, True).disabled
    with pytest.raises(AuthenticationFailed) as disabled:
        store.verify_password(name, "s3cret-pass")
    assert disabled.value.message == wrong.value.message
    assert not store.set_user_disabled(name, False).disabled
    assert store.verify_password(name, "s3cret-pass").name == name


def test_api_keys(store: Store) -> None:
    name = unique("user")
    store.create_user(name, "pw")
    key = store.create_api_key(name, description="laptop")
    assert key.user == name and len(key.secret_key) >= 40 and key.access_key.startswith("TH")
    assert store.authenticate_key(key.access_key, key.secret_key).name == name
    listed = {k.access_key: k for k in store.list_api_keys(name)}
    assert listed[key.access_key].description == "laptop"
    assert listed[key.access_key].last_used is not None
    assert key.secret_key not in repr(listed)
    messages = set()
    for access, secret in [(key.access_key, key.secret_key + "x"),
                           ("TH" + "B" * 20, key.secret_key)]:
        with pytest.raises(AuthenticationFailed) as info:
            store.authenticate_key(access, secret)
        messages.add(info.value.message)
    store.set_user_disabled(name, True)
    with pytest.raises(AuthenticationFailed) as info:
        store.authenticate_key(key.access_key, key.secret_key)
    messages.add(info.value.message)
    store.set_user_disabled(name, False)
    revoked = store.revoke_api_key(key.access_key)
    assert revoked.revoked
    with pytest.raises(AuthenticationFailed) as info:
        store.authenticate_key(key.access_key, key.secret_key)
    messages.add(info.value.message)
    assert len(messages) == 1


def test_audit_events_newest_first(store: Store) -> None:
    target = unique("target")
    first = store.add_audit_event("thing.create", "thing", target, {"n": 1})
    second = store.add_audit_event("thing.update", "thing", target)
    assert first.user == store.user and first.details == {"n": 1}
    assert second.id > first.id and second.details == {}
    events = store.list_audit_events(target_type="thing", target_id=target)
    assert [e.id for e in events] == [second.id, first.id]
    assert [e.id for e in store.list_audit_events(target_id=target, limit=1)] == [second.id]
    assert isinstance(first.created, datetime) and first.created.tzinfo is not None


# ---------------------------------------------------------------- listing tasks
def _report(store: Store, task_id: str, value: float | None) -> None:
    store.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("val", "acc", 0, value, 0.0)]))


def test_list_tasks_filters_and_pagination(store: Store) -> None:
    project = unique("proj")
    parent = new_task(store, project, name="parent", type=TaskType.optimizer)
    ids = [new_task(store, project, name=f"trial {i}", tags=["trial", f"n{i % 2}"],
                    parent_id=parent) for i in range(5)]
    new_task(store, f"{project}/sub", name="elsewhere")
    move(store, ids[0], S.in_progress, worker="w")
    page = store.list_tasks(TaskQuery(project=project))
    assert page.total == 6 and len(page.tasks) == 6
    assert [t.id for t in page.tasks] == [*reversed(ids), parent]
    assert store.list_tasks(TaskQuery(project=store.get_project(project).id)).total == 6
    assert store.list_tasks(TaskQuery(project=project, status=[S.in_progress])).total == 1
    assert store.list_tasks(TaskQuery(project=project, type=[TaskType.optimizer])).total == 1
    assert store.list_tasks(TaskQuery(project=project, tags=["trial", "n0"])).total == 3
    assert store.list_tasks(TaskQuery(project=project, parent_id=parent)).total == 5
    assert store.list_tasks(TaskQuery(project=project, name="TRIAL 3")).total == 1
    assert store.list_tasks(TaskQuery(project=project, name="%")).total == 0
    assert store.list_tasks(TaskQuery(project=project, user=store.user)).total == 6
    assert store.list_tasks(TaskQuery(project=unique("none"))).total == 0
    first = store.list_tasks(TaskQuery(project=project, limit=2, order_by="name",
                                       descending=False))
    rest = store.list_tasks(TaskQuery(project=project, limit=10, offset=2, order_by="name",
                                      descending=False))
    assert first.total == rest.total == 6
    names = [t.name for t in first.tasks + rest.tasks]
    assert names == sorted(names) and len(names) == 6
    with pytest.raises(InvalidInput):
        store.list_tasks(TaskQuery(project=project, order_by="bogus"))


def test_list_tasks_sorted_by_metric(store: Store) -> None:
    project = unique("proj")
    values = {"a": 0.5, "b": 0.9, "c": 0.1, "d": None}
    ids = {}
    for name, value in values.items():
        ids[name] = new_task(store, project, name=name)
        _report(store, ids[name], value)
    ids["e"] = new_task(store, project, name="e")
    query = TaskQuery(project=project, order_by="metric:val/acc")
    assert [t.name for t in store.list_tasks(query).tasks] == ["b", "a", "c", "e", "d"]
    ascending = TaskQuery(project=project, order_by="metric:val/acc", descending=False)
    assert [t.name for t in store.list_tasks(ascending).tasks][:3] == ["c", "a", "b"]
    paged = [t.name for offset in range(0, 5, 2) for t in store.list_tasks(
        TaskQuery(project=project, order_by="metric:val/acc", limit=2, offset=offset)).tasks]
    assert paged == ["b", "a", "c", "e", "d"]
    _report(store, ids["a"], 0.95)
    by_max = TaskQuery(project=project, order_by="metric:val/acc", metric_field="min")
    assert [t.name for t in store.list_tasks(by_max).tasks][:3] == ["b", "a", "c"]
    assert [t.name for t in store.list_tasks(query).tasks][:3] == ["a", "b", "c"]
    with pytest.raises(InvalidInput):
        store.list_tasks(TaskQuery(project=project, order_by="metric:nodash"))


def test_records_carry_the_acting_user(store: Store) -> None:
    bob = store.with_user("bob")
    task = bob.create_task(TaskCreate(project=unique("proj"), name="t"))
    assert task.user == "bob" and bob.user == "bob"
    assert store.get_task(task.id).user == "bob"
    assert datetime.now(UTC) >= task.created
