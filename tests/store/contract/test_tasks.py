"""Contract of the ``tasks`` area: projects, tasks, status, parameters & co, listing.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.store.contract.helpers import S, batch_id, move, new_task, put_bytes, task_in, unique
from tunehouse.errors import (
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
    Parameter,
    Script,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskType,
    TaskUpdate,
)


# ---------------------------------------------------------------- projects
def test_projects_are_hierarchical_and_created_once(store: Store) -> None:
    root = unique("team")
    child = store.tasks.get_or_create_project(f"{root}/vision/mnist", description="digits")
    again = store.tasks.get_or_create_project(f" {root} / vision / mnist ")
    assert again.id == child.id
    assert child.name == f"{root}/vision/mnist"
    assert child.description == "digits"
    assert child.user == store.user
    assert child.created.tzinfo is not None and child.created.utcoffset().total_seconds() == 0
    assert store.tasks.get_project(child.id) == child
    assert store.tasks.get_project(child.name) == child
    names = [p.name for p in store.tasks.list_projects()]
    assert child.name in names and names == sorted(names)


@pytest.mark.parametrize("bad", ["", "a//b", "/a", "a/", "a/../b", "  "])
def test_invalid_project_names_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.tasks.get_or_create_project(bad)


def test_unknown_project_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.tasks.get_project(unique("missing"))


# ---------------------------------------------------------------- tasks
def test_create_and_get_task(store: Store) -> None:
    project = unique("proj")
    task = store.tasks.create_task(TaskCreate(project=project, name="train", type=TaskType.testing,
                                        tags=["a", "b"], comment="hello", max_retries=2))
    assert task.status is S.created
    assert task.project == project
    assert task.type is TaskType.testing
    assert task.tags == ["a", "b"]
    assert task.user == store.user
    assert task.attempt == 0 and task.max_retries == 2
    assert task.created.tzinfo is not None
    assert store.tasks.get_task(task.id) == task
    assert store.tasks.get_project(project).id == task.project_id


def test_update_task(store: Store) -> None:
    task_id = new_task(store)
    before = store.tasks.get_task(task_id)
    updated = store.tasks.update_task(task_id, TaskUpdate(name="renamed", comment="c", tags=["x"],
                                                    max_retries=3, status_message="m",
                                                    last_iteration=7))
    assert (updated.name, updated.comment, updated.tags) == ("renamed", "c", ["x"])
    assert (updated.max_retries, updated.status_message, updated.last_iteration) == (3, "m", 7)
    assert updated.updated >= before.updated
    unchanged = store.tasks.update_task(task_id, TaskUpdate())
    assert unchanged.name == "renamed"


ALLOWED = {
    S.created: {S.queued, S.in_progress, S.aborted},
    S.queued: {S.created, S.in_progress, S.aborted},
    S.in_progress: {S.completed, S.failed, S.aborted, S.queued},
    S.completed: {S.created},
    S.failed: {S.created},
    S.aborted: {S.created},
}
def test_every_status_transition(store: Store) -> None:
    queue = unique("queue")
    for old in S:
        for new in S:
            task_id = task_in(store, old, queue)
            if new in ALLOWED[old]:
                if new is S.queued:
                    task = store.queues.enqueue(task_id, queue)
                else:
                    task = store.tasks.change_status(task_id, StatusChange(status=new, worker="w"))
                assert task.status is new, (old, new)
            else:
                with pytest.raises(InvalidTransition) as info:
                    store.tasks.change_status(task_id, StatusChange(status=new))
                assert old.value in info.value.message and new.value in info.value.message
                assert store.tasks.get_task(task_id).status is old


def test_force_allows_reset_abort_and_terminal_overwrite(store: Store) -> None:
    task_id = task_in(store, S.failed, unique("queue"))
    task = store.tasks.change_status(task_id, StatusChange(status=S.completed, force=True))
    assert task.status is S.completed
    running = task_in(store, S.in_progress, unique("queue"))
    assert store.tasks.change_status(running, StatusChange(status=S.created, force=True)).status is S.created


def test_status_change_side_effects(store: Store) -> None:
    task_id = new_task(store)
    running = store.tasks.change_status(task_id, StatusChange(status=S.in_progress, worker="w1",
                                                        reason="start", message="go"))
    assert running.started is not None and running.completed is None
    assert running.attempt == 1 and running.worker == "w1"
    assert (running.status_reason, running.status_message) == ("start", "go")
    done = store.tasks.change_status(task_id, StatusChange(status=S.completed))
    assert done.completed is not None and done.completed >= done.started
    sha, size = put_bytes(store, b"artifact")
    store.artifacts.add_artifact(task_id, ArtifactCreate(name="out", sha256=sha, size=size))
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("loss", "train", 0, 1.0, 0.0)],
                                logs=[("stdout", "line", 0.0)]))
    store.tasks.set_parameters(task_id, [Parameter(name="lr", value="0.1")])
    reset = store.tasks.change_status(task_id, StatusChange(status=S.created))
    assert reset.started is None and reset.completed is None and reset.worker is None
    assert reset.queue is None and not reset.abort_requested and reset.attempt == 0
    assert store.events.get_scalars(task_id) == []
    assert store.events.get_metric_summaries(task_id) == []
    assert store.events.get_logs(task_id) == []
    assert store.artifacts.list_artifacts(task_id) == []
    assert [p.name for p in store.tasks.get_parameters(task_id)] == ["lr"]


def test_attempt_counts_runs(store: Store) -> None:
    queue = unique("queue")
    task_id = new_task(store)
    store.queues.enqueue(task_id, queue, priority=5)
    assert store.queues.claim_task([queue], "w1").attempt == 1  # type: ignore[union-attr]
    requeued = store.tasks.change_status(task_id, StatusChange(status=S.queued, reason="retry"))
    assert requeued.queue == queue and requeued.worker is None
    assert [e.priority for e in store.queues.list_queue_entries(queue)] == [5]
    second = store.queues.claim_task([queue], "w2")
    assert second is not None and second.attempt == 2 and second.worker == "w2"


def test_request_abort(store: Store) -> None:
    queue = unique("queue")
    created = new_task(store)
    assert store.tasks.request_abort(created, "user").status is S.aborted
    queued = new_task(store)
    store.queues.enqueue(queued, queue)
    aborted = store.tasks.request_abort(queued)
    assert aborted.status is S.aborted and aborted.completed is not None
    assert store.queues.list_queue_entries(queue) == []
    running = new_task(store)
    move(store, running, S.in_progress, worker="w")
    flagged = store.tasks.request_abort(running, "too slow")
    assert flagged.status is S.in_progress and flagged.abort_requested
    move(store, running, S.aborted)
    with pytest.raises(Conflict):
        store.tasks.request_abort(running)


def test_clone_task(store: Store) -> None:
    project = unique("proj")
    source = new_task(store, project, name="base", type=TaskType.optimizer, tags=["t"])
    store.tasks.set_parameters(source, [Parameter(section="Args", name="lr", value="0.1", type="float")])
    store.tasks.set_configuration(source, Configuration(name="space", text="{}"))
    store.tasks.set_script(source, Script(repository="https://example.com/r.git", entry_point="train.py"))
    store.tasks.set_environment(source, Environment(python="3.11", packages=["numpy==2.0"]))
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=source,
                                scalars=[("loss", "train", 0, 1.0, 0.0)]))
    move(store, source, S.in_progress, worker="w")
    clone = store.tasks.clone_task(source, parent_id=source)
    assert clone.name == "base (clone)" and clone.status is S.created
    assert clone.parent_id == source and clone.project == project
    assert clone.type is TaskType.optimizer and clone.tags == ["t"]
    assert clone.user == store.user
    assert store.tasks.get_parameters(clone.id) == store.tasks.get_parameters(source)
    assert store.tasks.get_configurations(clone.id) == store.tasks.get_configurations(source)
    assert store.tasks.get_script(clone.id) == store.tasks.get_script(source)
    assert store.tasks.get_environment(clone.id) == store.tasks.get_environment(source)
    assert store.events.get_scalars(clone.id) == []
    other = unique("other")
    named = store.tasks.clone_task(source, name="trial 1", project=other)
    assert named.name == "trial 1" and named.project == other and named.parent_id is None


def test_delete_task(store: Store) -> None:
    queue = unique("queue")
    task_id = new_task(store)
    store.queues.enqueue(task_id, queue)
    with pytest.raises(Conflict):
        store.tasks.delete_task(task_id)
    move(store, task_id, S.in_progress, worker="w")
    with pytest.raises(Conflict):
        store.tasks.delete_task(task_id)
    move(store, task_id, S.completed)
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("a", "b", 0, 1.0, 0.0)], logs=[("stdout", "x", 0.0)]))
    store.tasks.set_parameters(task_id, [Parameter(name="p")])
    child = store.tasks.clone_task(task_id, parent_id=task_id)
    store.tasks.delete_task(task_id)
    with pytest.raises(NotFound):
        store.tasks.get_task(task_id)
    assert store.tasks.get_task(child.id).parent_id is None


# ---------------------------------------------------------------- parameters & co
def test_parameters_upsert_replace_and_order(store: Store) -> None:
    task_id = new_task(store)
    store.tasks.set_parameters(task_id, [
        Parameter(section="General", name="b", value="1", type="int"),
        Parameter(section="Args", name="z", value="x"),
        Parameter(section="General", name="a", value="2", type="int", description="first"),
    ])
    params = store.tasks.get_parameters(task_id)
    assert [(p.section, p.name) for p in params] == [("Args", "z"), ("General", "a"),
                                                     ("General", "b")]
    assert params[1].description == "first"
    store.tasks.set_parameters(task_id, [Parameter(section="General", name="a", value="3")])
    values = {(p.section, p.name): p.value for p in store.tasks.get_parameters(task_id)}
    assert values == {("Args", "z"): "x", ("General", "a"): "3", ("General", "b"): "1"}
    store.tasks.set_parameters(task_id, [Parameter(name="only", value="1")], replace=True)
    assert [p.name for p in store.tasks.get_parameters(task_id)] == ["only"]
    store.tasks.set_parameters(task_id, [], replace=True)
    assert store.tasks.get_parameters(task_id) == []


def test_configurations_script_environment(store: Store) -> None:
    task_id = new_task(store)
    assert store.tasks.get_configurations(task_id) == []
    assert store.tasks.get_script(task_id) == Script()
    assert store.tasks.get_environment(task_id) == Environment()
    store.tasks.set_configuration(task_id, Configuration(name="b", text="1"))
    store.tasks.set_configuration(task_id, Configuration(name="a", text="2", description="d"))
    store.tasks.set_configuration(task_id, Configuration(name="b", text="3"))
    assert [(c.name, c.text) for c in store.tasks.get_configurations(task_id)] == [("a", "2"), ("b", "3")]
    script = Script(repository="https://github.com/x/y", branch="main", commit="abc",
                    diff="--- a\n+++ b\n", untracked_files=["u.py"], entry_point="train.py",
                    working_dir=".", argv=["--lr", "0.1"])
    store.tasks.set_script(task_id, script)
    assert store.tasks.get_script(task_id) == script
    env = Environment(python="3.11.9", platform="Linux", hostname="h", cpu="x86", cpu_count=2,
                      memory_gb=24.0, gpus=[{"name": "A100"}], packages=["tensorflow==2.21"],
                      seed=42, extra={"argv": ["a"]})
    store.tasks.set_environment(task_id, env)
    assert store.tasks.get_environment(task_id) == env


# ---------------------------------------------------------------- listing tasks
def _report(store: Store, task_id: str, value: float | None) -> None:
    store.events.add_events(EventBatch(batch_id=batch_id(), task_id=task_id,
                                scalars=[("val", "acc", 0, value, 0.0)]))


def test_list_tasks_filters_and_pagination(store: Store) -> None:
    project = unique("proj")
    parent = new_task(store, project, name="parent", type=TaskType.optimizer)
    ids = [new_task(store, project, name=f"trial {i}", tags=["trial", f"n{i % 2}"],
                    parent_id=parent) for i in range(5)]
    new_task(store, f"{project}/sub", name="elsewhere")
    move(store, ids[0], S.in_progress, worker="w")
    page = store.tasks.list_tasks(TaskQuery(project=project))
    assert page.total == 6 and len(page.tasks) == 6
    assert [t.id for t in page.tasks] == [*reversed(ids), parent]
    assert store.tasks.list_tasks(TaskQuery(project=store.tasks.get_project(project).id)).total == 6
    assert store.tasks.list_tasks(TaskQuery(project=project, status=[S.in_progress])).total == 1
    assert store.tasks.list_tasks(TaskQuery(project=project, type=[TaskType.optimizer])).total == 1
    assert store.tasks.list_tasks(TaskQuery(project=project, tags=["trial", "n0"])).total == 3
    assert store.tasks.list_tasks(TaskQuery(project=project, exclude_tags=["n0"])).total == 3
    assert store.tasks.list_tasks(TaskQuery(project=project, tags=["trial"],
                                            exclude_tags=["n1", "n0"])).total == 0
    assert store.tasks.list_tasks(TaskQuery(project=project, parent_id=parent)).total == 5
    assert store.tasks.list_tasks(TaskQuery(project=project, name="TRIAL 3")).total == 1
    assert store.tasks.list_tasks(TaskQuery(project=project, name="%")).total == 0
    assert store.tasks.list_tasks(TaskQuery(project=project, user=store.user)).total == 6
    assert store.tasks.list_tasks(TaskQuery(project=unique("none"))).total == 0
    first = store.tasks.list_tasks(TaskQuery(project=project, limit=2, order_by="name",
                                       descending=False))
    rest = store.tasks.list_tasks(TaskQuery(project=project, limit=10, offset=2, order_by="name",
                                      descending=False))
    assert first.total == rest.total == 6
    names = [t.name for t in first.tasks + rest.tasks]
    assert names == sorted(names) and len(names) == 6
    with pytest.raises(InvalidInput):
        store.tasks.list_tasks(TaskQuery(project=project, order_by="bogus"))


def test_list_tasks_sorted_by_metric(store: Store) -> None:
    project = unique("proj")
    values = {"a": 0.5, "b": 0.9, "c": 0.1, "d": None}
    ids = {}
    for name, value in values.items():
        ids[name] = new_task(store, project, name=name)
        _report(store, ids[name], value)
    ids["e"] = new_task(store, project, name="e")
    query = TaskQuery(project=project, order_by="metric:val/acc")
    assert [t.name for t in store.tasks.list_tasks(query).tasks] == ["b", "a", "c", "e", "d"]
    ascending = TaskQuery(project=project, order_by="metric:val/acc", descending=False)
    assert [t.name for t in store.tasks.list_tasks(ascending).tasks][:3] == ["c", "a", "b"]
    paged = [t.name for offset in range(0, 5, 2) for t in store.tasks.list_tasks(
        TaskQuery(project=project, order_by="metric:val/acc", limit=2, offset=offset)).tasks]
    assert paged == ["b", "a", "c", "e", "d"]
    _report(store, ids["a"], 0.95)
    by_max = TaskQuery(project=project, order_by="metric:val/acc", metric_field="min")
    assert [t.name for t in store.tasks.list_tasks(by_max).tasks][:3] == ["b", "a", "c"]
    assert [t.name for t in store.tasks.list_tasks(query).tasks][:3] == ["a", "b", "c"]
    with pytest.raises(InvalidInput):
        store.tasks.list_tasks(TaskQuery(project=project, order_by="metric:nodash"))


def test_keep_if_same_is_one_atomic_check_and_set(store: Store) -> None:
    task_id = new_task(store)
    start = StatusChange(status=S.in_progress, keep_if_same=True)
    results: list[object] = []

    def attach() -> None:
        try:
            results.append(store.tasks.change_status(task_id, start).attempt)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=attach) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 8
    assert store.tasks.get_task(task_id).attempt == 1
    with pytest.raises(InvalidTransition):
        store.tasks.change_status(task_id, StatusChange(status=S.in_progress))


def test_signs_of_life_and_the_reaping_pass(store: Store) -> None:
    task_id = new_task(store)
    assert store.tasks.get_task(task_id).last_seen is None
    move(store, task_id, S.in_progress)
    started = store.tasks.get_task(task_id).last_seen
    assert started is not None
    beat = store.tasks.mark_alive(task_id)
    assert beat.last_seen is not None and beat.last_seen >= started
    assert not beat.abort_requested
    store.tasks.request_abort(task_id)  # alive: only asks
    assert store.tasks.mark_alive(task_id).abort_requested
    assert task_id not in {t.id for t in store.tasks.reap_lost_tasks(3600)}
    assert store.tasks.get_task(task_id).status is S.in_progress
    with pytest.raises(NotFound):
        store.tasks.mark_alive(uuid.uuid4().hex)
    with pytest.raises(InvalidInput):
        store.tasks.reap_lost_tasks(0)


def test_a_create_with_a_chosen_id_is_idempotent(store: Store) -> None:
    chosen = uuid.uuid4().hex
    spec = TaskCreate(id=chosen, project=unique("proj"), name="once")
    first = store.tasks.create_task(spec)
    assert first.id == chosen
    assert store.tasks.create_task(spec) == first
    with pytest.raises(Conflict):
        store.tasks.create_task(TaskCreate(id=chosen, project=unique("other"), name="x"))


def test_a_rewritten_end_keeps_when_the_task_ended(store: Store) -> None:
    task_id = new_task(store)
    store.tasks.change_status(task_id, StatusChange(status=S.in_progress))
    ended = store.tasks.change_status(task_id, StatusChange(status=S.aborted))
    rewritten = store.tasks.change_status(task_id, StatusChange(
        status=S.aborted, reason="pruned at iteration 3", force=True))
    assert rewritten.status_reason == "pruned at iteration 3"
    assert rewritten.completed == ended.completed


def test_iter_tasks_pages_through_every_match(store: Store) -> None:
    project = unique("pages")
    ids = [new_task(store, project, name=f"t{i}") for i in range(7)]
    query = TaskQuery(project=project, order_by="created", descending=False, limit=3)
    assert [t.id for t in store.tasks.iter_tasks(query)] == ids
    assert [t.id for t in store.tasks.iter_tasks(query, at_most=4)] == ids[:4]
    assert [t.id for t in store.tasks.iter_tasks(query.model_copy(update={"offset": 5}))] \
        == ids[5:]


# ---------------------------------------------------------------- task tables (read model)
LR = "param:General/lr"


def _params(store: Store, task_id: str, **values: str) -> None:
    store.tasks.set_parameters(task_id, [Parameter(section="General", name=name, value=value)
                                         for name, value in values.items()])


def _table(store: Store) -> tuple[str, dict[str, str]]:
    """A project of tasks named by their lr ("none": no lr), each with a val/acc metric."""
    project = unique("table")
    ids: dict[str, str] = {}
    for lr, acc in [("0.0001", 0.1), ("0.005", 0.7), ("0.02", 0.4), ("abc", 0.9),
                    ("10", None), ("9", 0.7), ("none", 0.2)]:
        ids[lr] = new_task(store, project, name=lr)
        if lr != "none":
            _params(store, ids[lr], lr=lr)
        if acc is not None:
            _report(store, ids[lr], acc)
    return project, ids


def _names(store: Store, query: TaskQuery) -> list[str]:
    return [task.name for task in store.tasks.list_tasks(query).tasks]


def test_list_tasks_filters_parameters_numerically(store: Store) -> None:
    project, _ = _table(store)
    between = TaskQuery(project=project, filters=[f"{LR} >= 0.001", f"{LR}<=0.01"])
    page = store.tasks.list_tasks(between)
    assert page.total == 1 and [t.name for t in page.tasks] == ["0.005"]
    assert sorted(_names(store, TaskQuery(project=project, filters=[f"{LR} > 5"]))) \
        == ["10", "9"]
    assert _names(store, TaskQuery(project=project, filters=[f"{LR} = abc"])) == ["abc"]
    assert _names(store, TaskQuery(project=project, filters=[f"{LR} = 1e1"])) == ["10"]
    assert store.tasks.list_tasks(TaskQuery(project=project, filters=[f"{LR} != abc"])).total == 5
    assert _names(store, TaskQuery(project=project, filters=["name = 0.02"])) == ["0.02"]
    assert store.tasks.list_tasks(TaskQuery(project=project,
                                            filters=["status = created"])).total == 7


def test_list_tasks_filters_metrics_by_summary(store: Store) -> None:
    project, ids = _table(store)
    _report(store, ids["abc"], 0.05)  # abc: last 0.05, min 0.05, max 0.9
    by_last = TaskQuery(project=project, filters=["metric:val/acc > 0.5"])
    assert sorted(_names(store, by_last)) == ["0.005", "9"]
    by_max = TaskQuery(project=project, filters=["metric:val/acc:max > 0.5"])
    assert sorted(_names(store, by_max)) == ["0.005", "9", "abc"]
    by_min = TaskQuery(project=project, filters=["metric:val/acc:min < 0.15", f"{LR} < 1"])
    assert sorted(_names(store, by_min)) == ["0.0001"]


def test_list_tasks_returns_the_values_of_columns(store: Store) -> None:
    project, ids = _table(store)
    _report(store, ids["abc"], 0.05)
    columns = [LR, "metric:val/acc", "metric:val/acc:max", "param:General/missing"]
    page = store.tasks.list_tasks(TaskQuery(project=project, columns=columns))
    assert page.values[ids["0.005"]] == {LR: 0.005, "metric:val/acc": 0.7,
                                         "metric:val/acc:max": 0.7}
    assert page.values[ids["10"]] == {LR: 10}
    assert page.values[ids["abc"]] == {LR: "abc", "metric:val/acc": 0.05,
                                       "metric:val/acc:max": 0.9}
    assert page.values[ids["none"]] == {"metric:val/acc": 0.2, "metric:val/acc:max": 0.2}
    assert list(page.values[ids["abc"]]) == columns[:3]
    assert store.tasks.list_tasks(TaskQuery(project=project)).values == {}


def test_list_tasks_orders_by_parameter_numerically(store: Store) -> None:
    project, _ = _table(store)
    ascending = TaskQuery(project=project, order_by=LR, descending=False)
    assert _names(store, ascending) == ["0.0001", "0.005", "0.02", "9", "10", "abc", "none"]
    assert _names(store, ascending.model_copy(update={"descending": True})) \
        == ["10", "9", "0.02", "0.005", "0.0001", "abc", "none"]


def test_list_tasks_orders_by_metric_with_missing_ones_last(store: Store) -> None:
    project, ids = _table(store)
    tied = sorted([ids["0.005"], ids["9"]])
    descending = _names(store, TaskQuery(project=project, order_by="metric:val/acc"))
    assert descending[:1] + descending[3:] == ["abc", "0.02", "none", "0.0001", "10"]
    assert [ids[name] for name in descending[1:3]] == tied[::-1]
    ascending = _names(store, TaskQuery(project=project, order_by="metric:val/acc:last",
                                        descending=False))
    assert ascending[:3] == ["0.0001", "none", "0.02"]
    assert [ids[name] for name in ascending[3:5]] == tied
    assert ascending[5:] == ["abc", "10"]


@pytest.mark.parametrize("order_by", ["created", "name", LR, "metric:val/acc",
                                      "metric:val/acc:min"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_walk_the_whole_order(store: Store, order_by: str,
                                           descending: bool) -> None:
    project, ids = _table(store)
    for name in ("tie-a", "tie-b", "tie-c"):  # ties on lr, on acc and on name's prefix
        ids[name] = new_task(store, project, name="0.02")
        _params(store, ids[name], lr="0.02")
        _report(store, ids[name], 0.4)
    full = store.tasks.list_tasks(TaskQuery(project=project, order_by=order_by,
                                            descending=descending, columns=[LR]))
    assert full.next_cursor is None and full.total == len(ids) == len(full.tasks)
    for limit in (1, 3, 5):
        query = TaskQuery(project=project, order_by=order_by, descending=descending,
                          limit=limit, columns=[LR])
        walked: list[str] = []
        values: dict[str, object] = {}
        while True:
            page = store.tasks.list_tasks(query)
            assert page.total == len(ids)
            walked += [task.id for task in page.tasks]
            values.update(page.values)
            if page.next_cursor is None:
                break
            assert len(page.tasks) == limit
            query = query.model_copy(update={"cursor": page.next_cursor})
        assert walked == [task.id for task in full.tasks]
        assert values == full.values


def test_bad_filters_columns_orders_and_cursors_are_invalid_input(store: Store) -> None:
    project, _ = _table(store)
    bad_queries = [
        TaskQuery(project=project, filters=[f"{LR} >> 1"]),
        TaskQuery(project=project, filters=[f"{LR} 1"]),
        TaskQuery(project=project, filters=[f"{LR} ="]),
        TaskQuery(project=project, filters=["bogus = 1"]),
        TaskQuery(project=project, filters=["param:nosection = 1"]),
        TaskQuery(project=project, filters=["metric:val/acc > high"]),
        TaskQuery(project=project, filters=["created > yesterday"]),
        TaskQuery(project=project, filters=["status = sleeping"]),
        TaskQuery(project=project, filters=["updated < 9999-12-31T23:59:59-14:00"]),
        TaskQuery(project=project, filters=["name = a\x00b"]),
        TaskQuery(project=project, columns=["param:General/a\x00b"]),
        TaskQuery(project=project, columns=["param:lr"]),
        TaskQuery(project=project, columns=["metric:nodash"]),
        TaskQuery(project=project, columns=["lr"]),
        TaskQuery(project=project, order_by="param:lr"),
        TaskQuery(project=project, order_by="metric:val"),
        TaskQuery(project=project, cursor="not a cursor"),
    ]
    for query in bad_queries:
        with pytest.raises(InvalidInput):
            store.tasks.list_tasks(query)
    with pytest.raises(InvalidInput) as info:
        store.tasks.list_tasks(TaskQuery(project=project, filters=[f"{LR} >> 1"]))
    assert f"{LR} >> 1" in info.value.message and "OP" in info.value.message
    first = store.tasks.list_tasks(TaskQuery(project=project, order_by=LR, limit=2))
    assert first.next_cursor is not None
    with pytest.raises(InvalidInput):
        store.tasks.list_tasks(TaskQuery(project=project, order_by=LR, limit=2,
                                         cursor=first.next_cursor, offset=2))
    with pytest.raises(InvalidInput):  # a cursor of another order
        store.tasks.list_tasks(TaskQuery(project=project, order_by="created",
                                         cursor=first.next_cursor))
