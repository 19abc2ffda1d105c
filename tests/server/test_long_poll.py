"""Agents' claims wait on the server (long poll) without starving other requests."""

from __future__ import annotations

import threading
import uuid

from tests.helpers.server import ServerProcess
from tunehouse.store.records import TaskCreate


def test_many_waiting_claims_leave_room_for_other_requests(server: ServerProcess) -> None:
    queue = f"idle-{uuid.uuid4().hex[:8]}"
    store = server.store()
    results: list[object] = []
    try:
        claims = [threading.Thread(target=lambda i=i: results.append(
            store.queues.claim_task([queue], f"idle-agent-{i}", wait_s=8)))
            for i in range(60)]
        for thread in claims:
            thread.start()
        # more waiting claims than anyio's default thread pool (40): requests still pass
        task = store.tasks.create_task(TaskCreate(project="long-poll", name="t"))
        assert store.tasks.get_task(task.id).id == task.id
        assert sum(thread.is_alive() for thread in claims) >= 50  # they were still waiting
        store.queues.enqueue(task.id, queue)
        for thread in claims:
            thread.join(timeout=30)
        assert [r for r in results if r is not None][0].id == task.id  # type: ignore[attr-defined]
        assert sum(r is not None for r in results) == 1
    finally:
        store.close()
