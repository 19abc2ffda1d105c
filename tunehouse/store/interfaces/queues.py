"""Queues of tasks waiting for an agent, and the workers that serve them."""

from __future__ import annotations

import abc

from tunehouse.store.records import Queue, QueueEntry, Task, Worker, WorkerHeartbeat


class QueueStore(abc.ABC):
    """Queues (claim order: priority, then enqueue time), claims and workers."""

    @abc.abstractmethod
    def get_or_create_queue(self, name: str) -> Queue: ...

    @abc.abstractmethod
    def list_queues(self) -> list[Queue]: ...

    @abc.abstractmethod
    def enqueue(self, task_id: str, queue: str, priority: int = 0) -> Task:
        """Put a ``created`` task in a queue (status ``queued``)."""

    @abc.abstractmethod
    def dequeue(self, task_id: str) -> Task:
        """Take a queued task back out of its queue (status ``created``)."""

    @abc.abstractmethod
    def list_queue_entries(self, queue: str) -> list[QueueEntry]:
        """Entries in claim order: highest priority first, then oldest."""

    @abc.abstractmethod
    def claim_task(self, queues: list[str], worker: str) -> Task | None:
        """Atomically take the next task from the first non-empty queue (in the order
        given) and mark it ``in_progress`` on ``worker``. No task is handed out twice."""

    @abc.abstractmethod
    def heartbeat(self, beat: WorkerHeartbeat) -> Worker:
        """Register or refresh a worker."""

    @abc.abstractmethod
    def list_workers(self, max_age_s: float | None = None) -> list[Worker]: ...
