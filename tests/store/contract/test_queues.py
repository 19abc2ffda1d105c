"""Contract of the ``queues`` area: queues, claims and workers.

Run against every backend (SQLite, PostgreSQL, HTTP to a server); the HTTP backend shares one
server per module, so every test names its projects, queues, models and workers uniquely.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from tests.store.contract.helpers import S, new_task, unique
from tunehouse.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    StaleAttempt,
)
from tunehouse.store.base import Store
from tunehouse.store.records import (
    EventBatch,
    LogEvent,
    Parameter,
    QueuePosition,
    StatusChange,
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
        assert task.status is S.in_progress and task.worker == "w" and task.attempt == 1
        assert task.lease_expires is not None and task.lease_expires > datetime.now(UTC)
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


def test_default_queue_exists_and_queues_are_deleted_only_empty(store: Store) -> None:
    assert "default" in {q.name for q in store.queues.list_queues()}
    with pytest.raises(Conflict, match="default"):
        store.queues.delete_queue("default")
    queue = unique("queue")
    task_id = new_task(store)
    store.queues.enqueue(task_id, queue)
    with pytest.raises(Conflict, match="holds 1 task"):
        store.queues.delete_queue(queue)
    store.queues.dequeue(task_id)
    store.queues.delete_queue(queue)
    assert queue not in {q.name for q in store.queues.list_queues()}
    with pytest.raises(NotFound):
        store.queues.delete_queue(queue)


def test_move_queued_task_to_front_and_back(store: Store) -> None:
    queue = unique("queue")
    a, b, c = new_task(store), new_task(store), new_task(store)
    for task_id, priority in ((a, 5), (b, 0), (c, 0)):
        store.queues.enqueue(task_id, queue, priority=priority)
    entry = store.queues.move_queued_task(c, QueuePosition.front)
    assert entry.queue == queue and entry.priority == 6
    assert [e.task_id for e in store.queues.list_queue_entries(queue)] == [c, a, b]
    store.queues.move_queued_task(c, QueuePosition.back)
    assert [e.task_id for e in store.queues.list_queue_entries(queue)] == [a, b, c]
    with pytest.raises(Conflict, match="not queued"):
        store.queues.move_queued_task(new_task(store), QueuePosition.front)


def test_waiting_claim_gets_a_task_enqueued_meanwhile(store: Store) -> None:
    queue = unique("queue")
    task_id = new_task(store)
    start = time.monotonic()
    assert store.queues.claim_task([queue], "w", wait_s=0.4) is None
    assert time.monotonic() - start >= 0.35
    timer = threading.Timer(0.3, lambda: store.queues.enqueue(task_id, queue))
    timer.start()
    start = time.monotonic()
    claimed = store.queues.claim_task([queue], "w", wait_s=10)
    waited = time.monotonic() - start
    timer.join()
    assert claimed is not None and claimed.id == task_id
    assert waited < 5  # woken by the enqueue, not by the end of the wait


# ---------------------------------------------------------------- leases and fences
def _claim(store: Store, lease_s: float = 60.0) -> tuple[str, str, str]:
    queue, worker = unique("queue"), unique("worker")
    task_id = new_task(store)
    store.queues.enqueue(task_id, queue)
    claimed = store.queues.claim_task([queue], worker, lease_s=lease_s)
    assert claimed is not None and claimed.id == task_id
    return task_id, queue, worker


def test_heartbeat_renews_leases_and_carries_aborts(store: Store) -> None:
    task_id, _, worker = _claim(store, lease_s=5)
    before = store.tasks.get_task(task_id).lease_expires
    assert before is not None
    other = new_task(store)
    reply = store.queues.heartbeat(WorkerHeartbeat(name=worker, tasks={task_id: 1, other: 1},
                                                   slots=2, free_slots=0, lease_s=120))
    assert reply.abort == [] and reply.revoked == [other]
    assert reply.worker.tasks == sorted([task_id, other]) and reply.worker.slots == 2
    renewed = store.tasks.get_task(task_id).lease_expires
    assert renewed is not None and (renewed - before).total_seconds() > 100
    store.tasks.request_abort(task_id, "stop it")
    reply = store.queues.heartbeat(WorkerHeartbeat(name=worker, tasks={task_id: 1}))
    assert reply.abort == [task_id] and reply.revoked == []
    # a stale attempt number is not held
    reply = store.queues.heartbeat(WorkerHeartbeat(name=worker, tasks={task_id: 7}))
    assert reply.revoked == [task_id]


def test_expired_lease_requeues_then_fails_worker_lost(store: Store) -> None:
    # (through HTTP the server's watchdog may reap first: it uses one retry too)
    task_id, queue, worker = _claim(store, lease_s=0.2)
    time.sleep(0.4)
    store.queues.reap_expired_leases(lost_worker_retries=1)
    requeued = store.tasks.get_task(task_id)
    assert requeued.status is S.queued and requeued.queue == queue
    assert worker in requeued.status_reason and "lost" in requeued.status_reason
    assert requeued.lease_expires is None
    again = store.queues.claim_task([queue], "w2", lease_s=0.2)
    assert again is not None and again.attempt == 2
    time.sleep(0.4)
    store.queues.reap_expired_leases(lost_worker_retries=1)
    failed = store.tasks.get_task(task_id)
    assert failed.status is S.failed and failed.status_reason.startswith("worker w2 lost")
    assert task_id not in {t.id for t in store.queues.reap_expired_leases()}


def test_stale_attempt_writes_are_refused(store: Store) -> None:
    task_id, queue, _ = _claim(store, lease_s=0.2)
    first = store.with_fence(task_id, 1)
    first.tasks.set_parameters(task_id, [Parameter(section="General", name="lr", value="0.1")])
    first.events.add_events(EventBatch(batch_id=unique("b"), task_id=task_id,
                                       logs=[LogEvent("log", "attempt 1", time.time())]))
    time.sleep(0.4)
    store.queues.reap_expired_leases()
    assert store.queues.claim_task([queue], "w2") is not None  # attempt 2 runs now
    with pytest.raises(StaleAttempt):
        first.events.add_events(EventBatch(batch_id=unique("b"), task_id=task_id,
                                           logs=[LogEvent("log", "zombie", time.time())]))
    with pytest.raises(StaleAttempt):
        first.tasks.change_status(task_id, StatusChange(status=S.completed))
    with pytest.raises(StaleAttempt):
        first.tasks.set_parameters(task_id, [Parameter(section="General", name="lr",
                                                       value="9")])
    with pytest.raises(StaleAttempt):
        first.tasks.mark_alive(task_id)
    second = store.with_fence(task_id, 2)
    done = second.tasks.change_status(task_id, StatusChange(status=S.completed))
    assert done.status is S.completed and done.lease_expires is None
    assert [line.text for line in store.events.get_logs(task_id)] == ["attempt 1"]
    # writes to other tasks are not fenced
    other = new_task(store)
    first.tasks.set_parameters(other, [Parameter(section="General", name="x", value="1")])


# ---------------------------------------------------------------- workers
def test_worker_heartbeats(store: Store) -> None:
    name = unique("worker")
    first = store.queues.heartbeat(WorkerHeartbeat(name=name, host="gpu1", queues=["a"], gpus=["0"],
                                            stats={"cpu": 10.0})).worker
    assert first.user == store.user and first.registered.tzinfo is not None
    second = store.queues.heartbeat(WorkerHeartbeat(name=name, host="gpu1", queues=["a", "b"],
                                             stats={"cpu": 50.0})).worker
    assert second.registered == first.registered
    assert second.last_heartbeat >= first.last_heartbeat
    assert second.queues == ["a", "b"] and second.stats == {"cpu": 50.0}
    workers = {w.name: w for w in store.queues.list_workers()}
    assert workers[name] == second
    assert name in {w.name for w in store.queues.list_workers(max_age_s=60)}


def test_silent_workers_leave_the_list(store: Store) -> None:
    name = unique("worker")
    store.queues.heartbeat(WorkerHeartbeat(name=name, lease_s=0.2))
    time.sleep(0.4)
    store.queues.reap_expired_leases()
    assert name not in {w.name for w in store.queues.list_workers()}
