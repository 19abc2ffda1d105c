"""``tunehouse queues``: the queues agents pull tasks from."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from tunehouse.cli._ids import resolve_task
from tunehouse.cli._options import add_common_options, console, open_store, settings_from_args, when
from tunehouse.store.base import Store
from tunehouse.store.records import QueuePosition, TaskQuery, TaskStatus
from tunehouse.store.records import Task as TaskRecord

QUEUED_SCAN_LIMIT = 20_000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("queues", help="queues: list, create, delete, show, move, reap")
    commands = parser.add_subparsers(dest="queues_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every queue and how many tasks wait in it")
    add_common_options(listing)
    listing.set_defaults(func=run_list)
    create = commands.add_parser("create", help="create a queue")
    create.add_argument("name")
    add_common_options(create)
    create.set_defaults(func=run_create)
    delete = commands.add_parser("delete", help="delete an empty queue")
    delete.add_argument("name")
    add_common_options(delete)
    delete.set_defaults(func=run_delete)
    show = commands.add_parser("show", help="the tasks waiting in a queue, in claim order")
    show.add_argument("name")
    add_common_options(show)
    show.set_defaults(func=run_show)
    move = commands.add_parser("move", help="move a queued task to the front or the back "
                                            "of its queue")
    move.add_argument("task_id")
    where = move.add_mutually_exclusive_group(required=True)
    where.add_argument("--front", dest="position", action="store_const",
                       const=QueuePosition.front, help="claimed next")
    where.add_argument("--back", dest="position", action="store_const",
                       const=QueuePosition.back, help="claimed last")
    add_common_options(move)
    move.set_defaults(func=run_move)
    reap = commands.add_parser(
        "reap", help="requeue (or fail) running tasks whose agent's lease ran out and drop "
                     "silent workers (what the server's watchdog does; for the embedded "
                     "database)")
    reap.add_argument("--retries", type=int, default=None, metavar="N",
                      help="put a task back in its queue at most N times "
                           "(default: $TUNEHOUSE_WORKER_LOST_RETRIES, 2)")
    add_common_options(reap)
    reap.set_defaults(func=run_reap)


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        queues = store.queues.list_queues()
    table = Table("queue", "length", "created", title=f"{len(queues)} queues")
    for queue in queues:
        table.add_row(queue.name, str(queue.length), when(queue.created))
    console().print(table)
    return 0


def run_create(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        queue = store.queues.get_or_create_queue(args.name)
    print(f"queue {queue.name} ({queue.length} tasks)")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.queues.delete_queue(args.name)
    print(f"queue {args.name} deleted")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        entries = store.queues.list_queue_entries(args.name)
        tasks = _queued_tasks(store, len(entries))
    table = Table("#", "task", "name", "project", "priority", "enqueued",
                  title=f"queue {args.name}: {len(entries)} tasks, in claim order")
    for position, entry in enumerate(entries, start=1):
        task = tasks.get(entry.task_id)
        table.add_row(str(position), entry.task_id, task.name if task else "-",
                      task.project if task else "-", str(entry.priority), when(entry.enqueued))
    console().print(table)
    return 0


def _queued_tasks(store: Store, wanted: int) -> dict[str, TaskRecord]:
    """Queued tasks by id (to name the entries of a queue); none when ``wanted`` is 0."""
    if not wanted:
        return {}
    query = TaskQuery(status=[TaskStatus.queued], limit=1000)
    return {task.id: task for task in store.tasks.iter_tasks(query, at_most=QUEUED_SCAN_LIMIT)}


def run_move(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        entry = store.queues.move_queued_task(resolve_task(store, args.task_id).id,
                                              args.position)
    print(f"task {entry.task_id} moved to the {args.position.value} of queue {entry.queue} "
          f"(priority {entry.priority})")
    return 0


def run_reap(args: argparse.Namespace) -> int:
    retries = args.retries
    if retries is None:
        retries = settings_from_args(args).worker_lost_retries
    with open_store(args) as store:
        changed = store.queues.reap_expired_leases(retries)
    for task in changed:
        where = f" in {task.queue}" if task.status is TaskStatus.queued and task.queue else ""
        reason = f": {task.status_reason}" if task.status_reason else ""
        print(f"{task.id} {task.status.value}{where}{reason}")
    print(f"{len(changed)} task(s) changed")
    return 0
