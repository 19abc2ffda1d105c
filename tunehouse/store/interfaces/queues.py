"""Queues of tasks waiting for an agent, the leases of claimed tasks, and the workers.

A claim hands a task to a worker under a **lease**: the task's ``worker``, its ``attempt``
(the fencing token: writes made for an older attempt are refused, see
:meth:`tunehouse.store.base.Store.with_fence`) and ``lease_expires``. The worker renews
the leases of the tasks it runs with each :meth:`QueueStore.heartbeat`; a lease that runs
out means the worker is lost, and :meth:`QueueStore.reap_expired_leases` hands the task
back to its queue or fails it.
"""

from __future__ import annotations

import abc

from tunehouse.store.records import (
    LEASE_S,
    HeartbeatReply,
    Queue,
    QueueEntry,
    QueuePosition,
    Task,
    Worker,
    WorkerHeartbeat,
)

#: The queue that always exists (agents and ``Task.enqueue`` use it unless told otherwise).
DEFAULT_QUEUE = "default"


class QueueStore(abc.ABC):
    """Queues (claim order: priority, then enqueue time), claims, leases and workers."""

    @abc.abstractmethod
    def get_or_create_queue(self, name: str) -> Queue: ...

    @abc.abstractmethod
    def list_queues(self) -> list[Queue]:
        """Every queue with its length, by name (``default`` is always there)."""

    @abc.abstractmethod
    def delete_queue(self, name: str) -> None:
        """Delete an empty queue; refused (Conflict) while tasks wait in it, and for
        ``default``."""

    @abc.abstractmethod
    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        """Put a ``created`` task in a queue (status ``queued``)."""

    @abc.abstractmethod
    def dequeue(self, task_id: str) -> Task:
        """Take a queued task back out of its queue (status ``created``)."""

    @abc.abstractmethod
    def move_queued_task(self, task_id: str, position: QueuePosition) -> QueueEntry:
        """Move a queued task to the front or the back of its queue (its priority becomes
        the highest, or the lowest, in that queue)."""

    @abc.abstractmethod
    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        """Entries in claim order: highest priority first, then oldest."""

    @abc.abstractmethod
    def claim_task(self, queues: list[str], worker: str, wait_s: float = 0.0,
                   lease_s: float = LEASE_S) -> Task | None:
        """Atomically take the next task from the first non-empty queue (in the order
        given), mark it ``in_progress`` on ``worker`` with a new attempt and a lease of
        ``lease_s`` seconds. No task is handed out twice. With ``wait_s`` the call waits
        up to that long (at most :data:`~tunehouse.store.records.CLAIM_WAIT_MAX_S`) for a
        task to arrive before answering None."""

    @abc.abstractmethod
    def heartbeat(self, beat: WorkerHeartbeat) -> HeartbeatReply:
        """Register or refresh a worker, renew the leases of the tasks it still holds (a
        renewal is a sign of life of the task) and answer which of them to abort and which
        it lost."""

    @abc.abstractmethod
    def list_workers(self, max_age_s: float | None = None) -> list[Worker]: ...

    @abc.abstractmethod
    def reap_expired_leases(self, lost_worker_retries: int = 2) -> list[Task]:
        """Hand each running task whose lease ran out back to its queue while it has had
        at most ``max(task.max_retries, lost_worker_retries)`` retries, else fail it
        ("worker lost"); remove workers silent for longer than their lease. Returns the
        tasks changed."""
