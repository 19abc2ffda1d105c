"""Contract of the ``queues`` area: queues, claims and workers.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import threading

import pytest

from tests.store.contract.helpers import S, new_task, unique
from tunehouse.errors import (
    InvalidInput,
    InvalidTransition,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    WorkerHeartbeat,
)


# ---------------------------------------------------------------- queues
def test_queue_order_and_dequeue(store: Store) -> None:
    queue = unique("queue")
    low, high, low2 = new_task(store), new_task(store), new_task(store)
    store.queues.enqueue(low, queue, priority=0)
    queued = store.queues.enqueue(high, queue, priority=10)
    store.queues.enqueue(low2, queue, priority=0)
    assert queued.status is S.queued and queued.queue == queue
    entries = store.queues.list_queue_entries(queue)
    assert [e.task_id for e in entries] == [high, low, low2]
    assert [e.priority for e in entries] == [10, 0, 0]
    assert {q.name: q.length for q in store.queues.list_queues()}[queue] == 3
    assert store.queues.get_or_create_queue(queue).length == 3
    back = store.queues.dequeue(low)
    assert back.status is S.created and back.queue is None
    assert [e.task_id for e in store.queues.list_queue_entries(queue)] == [high, low2]
    with pytest.raises(InvalidTransition):
        store.queues.dequeue(low)
    with pytest.raises(InvalidTransition):
        store.queues.enqueue(high, queue)
    with pytest.raises(InvalidInput):
        store.queues.enqueue(low, "bad queue name!")


def test_claim_follows_queue_order_then_priority(store: Store) -> None:
    first, second, empty = unique("q1"), unique("q2"), unique("q3")
    store.queues.get_or_create_queue(empty)
    assert store.queues.claim_task([first, second], "w") is None
    a = new_task(store)
    b = new_task(store)
    c = new_task(store)
    store.queues.enqueue(a, second, priority=100)
    store.queues.enqueue(b, first, priority=0)
    store.queues.enqueue(c, first, priority=1)
    order = []
    while (task := store.queues.claim_task([empty, first, second], "w")) is not None:
        assert task.status is S.in_progress and task.worker == "w"
        order.append(task.id)
    assert order == [c, b, a]
    assert store.queues.list_queue_entries(first) == []


def test_concurrent_claims_hand_out_each_task_once(store: Store) -> None:
    queue = unique("queue")
    task_ids = {new_task(store) for _ in range(24)}
    for task_id in task_ids:
        store.queues.enqueue(task_id, queue)
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        try:
            while (task := store.queues.claim_task([queue], name)) is not None:
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
    assert all(store.tasks.get_task(t).attempt == 1 for t in task_ids)


# ---------------------------------------------------------------- workers
def test_worker_heartbeats(store: Store) -> None:
    name = unique("worker")
    first = store.queues.heartbeat(WorkerHeartbeat(name=name, host="gpu1", queues=["a"], gpus=["0"],
                                            stats={"cpu": 10.0}))
    assert first.user == store.user and first.registered.tzinfo is not None
    second = store.queues.heartbeat(WorkerHeartbeat(name=name, host="gpu1", queues=["a", "b"],
                                             stats={"cpu": 50.0}))
    assert second.registered == first.registered
    assert second.last_heartbeat >= first.last_heartbeat
    assert second.queues == ["a", "b"] and second.stats == {"cpu": 50.0}
    workers = {w.name: w for w in store.queues.list_workers()}
    assert workers[name] == second
    assert name in {w.name for w in store.queues.list_workers(max_age_s=60)}
