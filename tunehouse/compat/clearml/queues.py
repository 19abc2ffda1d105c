"""ClearML's ``queues`` service on tunehouse's queues, and the agent's pull
(``queues.get_next_task``) as a tunehouse claim under a lease.

A ClearML queue is a tunehouse queue: its ``id`` is the queue's id, its ``name`` the
name. ``clearml-agent`` pulls with ``queues.get_next_task``, naming itself in the
``X-ClearML-Worker`` header: the task is claimed for that worker like a tunehouse agent's
claim (``in_progress``, a new attempt, a lease of the server's ``clearml_lease_s``), and
the worker's ``workers.status_report`` (:mod:`.workers`) renews the lease, so the
watchdog hands the task back to its queue when that agent dies.
"""

from __future__ import annotations

from typing import Any

from tunehouse.compat.clearml.call import Call, Handler
from tunehouse.compat.clearml.envelope import ApiError, bad_request
from tunehouse.errors import NotFound
from tunehouse.store.base import Store
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE
from tunehouse.store.records import Queue


def queue_dict(store: Store, queue: Queue) -> dict[str, Any]:
    """A tunehouse queue as ClearML's queue object (its entries in claim order)."""
    entries = store.queues.list_queue_entries(queue.name)
    return {"id": queue.id, "name": queue.name, "display_name": queue.name,
            "user": "", "company": "tunehouse", "created": queue.created.isoformat(),
            "tags": [], "system_tags": [], "metadata": {},
            "entries": [{"task": entry.task_id, "added": entry.enqueued.isoformat()}
                        for entry in entries]}


def find_queue(store: Store, id_or_name: str, where: str) -> Queue:
    """The queue whose id (or, as ClearML's clients also send, name) is ``id_or_name``;
    404 naming ``where`` when there is none."""
    for queue in store.queues.list_queues():
        if id_or_name in (queue.id, queue.name):
            return queue
    raise NotFound(f"{where}: no queue {id_or_name!r}")


def queue_names(store: Store, ids: list[str], where: str) -> list[str]:
    """The names of the queues ``ids`` (ids or names), in order."""
    return [find_queue(store, queue, where).name for queue in ids]


def get_all(call: Call) -> dict[str, Any]:
    """``queues.get_all``: queues by ids and/or ``name`` (a regular expression)."""
    body = call.body
    ids = body.texts("id")
    pattern = body.pattern("name", "queues.get_all")
    found = [queue for queue in call.store.queues.list_queues()
             if (ids is None or queue.id in ids)
             and (pattern is None or pattern.search(queue.name))]
    page = body.integer("page", 0) or 0
    size = body.integer("page_size") or len(found) or 1
    return {"queues": [queue_dict(call.store, q) for q in found[page * size:(page + 1) * size]]}


def get_by_id(call: Call) -> dict[str, Any]:
    """``queues.get_by_id``: one queue with its entries."""
    queue = find_queue(call.store, call.body.req_text("queue"), "queues.get_by_id")
    return {"queue": queue_dict(call.store, queue)}


def get_default(call: Call) -> dict[str, Any]:
    """``queues.get_default``: tunehouse's ``default`` queue."""
    queue = call.store.queues.get_or_create_queue(DEFAULT_QUEUE)
    return {"id": queue.id, "name": queue.name}


def create(call: Call) -> dict[str, Any]:
    """``queues.create``: the queue called ``name`` (created when missing)."""
    queue = call.store.queues.get_or_create_queue(call.body.req_text("name"))
    return {"id": queue.id}


def get_next_task(call: Call) -> dict[str, Any]:
    """``queues.get_next_task``: claim the next task of the queue for the calling worker
    (the ``X-ClearML-Worker`` header) under a lease; ``{}`` when the queue is empty."""
    queue = find_queue(call.store, call.body.req_text("queue"), "queues.get_next_task")
    task = call.store.queues.claim_task([queue.name], _puller(call, queue.name),
                                        lease_s=call.lease_s)
    if task is None:
        return {}
    answer: dict[str, Any] = {"entry": {"task": task.id, "added": task.updated.isoformat()}}
    if call.body.flag("get_task_info"):
        answer["task_info"] = {"user": task.user, "company": "tunehouse"}
    return answer


def _puller(call: Call, queue: str) -> str:
    """The worker that pulls: clearml-agent's call names only its host (the
    ``X-ClearML-Worker`` header); its worker id is in its registration and status
    reports. So: an idle worker of the caller serving ``queue``, one on that host first,
    the most recently heard first; the host itself when none registered. When two idle
    workers of one account on one host serve the queue the guess may name the other one:
    :func:`.workers.status_report` then renews the lease under the guessed name."""
    host = call.worker
    idle = [w for w in call.store.queues.list_workers()
            if w.user == call.user and queue in w.queues and not w.tasks]
    idle.sort(key=lambda w: (not host or w.host != host, -w.last_heartbeat.timestamp()))
    if idle:
        return idle[0].name
    if not host:
        raise ApiError(400, "queues.get_next_task: register the worker first "
                            "(workers.register) or name it in the X-ClearML-Worker header")
    return host


def _no_queue_edits(call: Call) -> dict[str, Any]:
    raise bad_request("queues.add_task/remove_task: use tasks.enqueue and tasks.dequeue "
                      "(tunehouse keeps a task's status and its queue entry together)")


ACTIONS: dict[str, Handler] = {
    "queues.get_all": get_all, "queues.get_all_ex": get_all, "queues.get_by_id": get_by_id,
    "queues.get_default": get_default, "queues.create": create,
    "queues.get_next_task": get_next_task,
    "queues.add_task": _no_queue_edits, "queues.remove_task": _no_queue_edits,
}

#: ClearML's queue endpoints not served yet.
NOT_YET = frozenset({"queues.update", "queues.delete", "queues.move_task_forward",
                     "queues.move_task_backward", "queues.move_task_to_front",
                     "queues.move_task_to_back", "queues.get_queue_metrics",
                     "queues.add_or_update_metadata", "queues.delete_metadata",
                     "queues.peek_task", "queues.get_num_entries", "queues.clear_queue"})
