"""``tunehouse tasks clone|enqueue|dequeue|log``: prepare tasks for agents and follow them.

These commands belong to the ``tasks`` group; :func:`register` is called by
:func:`tunehouse.cli.tasks.register` with that group's subparsers (``tasks`` imports this
module only then; this module never imports ``tasks``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from tunehouse.cli._ids import resolve_task
from tunehouse.cli._options import add_common_options, open_store
from tunehouse.errors import InvalidInput
from tunehouse.sdk.parameter_edits import clone_with_edits
from tunehouse.store.base import Store
from tunehouse.store.interfaces.queues import DEFAULT_QUEUE
from tunehouse.store.records import LogLine
from tunehouse.store.status import TERMINAL

#: How often ``tasks log --follow`` asks for new lines (seconds).
FOLLOW_POLL_S = 0.5
LOG_PAGE = 5000


def register(commands: Any) -> None:
    """Add the commands to the ``tasks`` group's ``commands`` subparsers."""
    clone = commands.add_parser(
        "clone", help="copy a task (parameters, configurations, script, environment) as a "
                      "new 'created' task, edit its parameters, optionally queue it")
    clone.add_argument("task_id", help="the task to copy (id or unique id prefix)")
    clone.add_argument("--name", default=None, help="name of the clone (default: "
                                                    "'<source name> (clone)')")
    clone.add_argument("--set", dest="edits", action="append", default=[],
                       metavar="SECTION/NAME=VALUE",
                       help="change a parameter (repeatable); a NAME without section changes "
                            "the one parameter of that name; with a section, an unknown "
                            "parameter is added")
    clone.add_argument("--queue", default=None, help="queue the clone in this queue")
    clone.add_argument("--priority", type=int, default=0,
                       help="queue priority with --queue (higher is claimed first)")
    clone.add_argument("--parent", default=None, help="parent task recorded on the clone")
    add_common_options(clone)
    clone.set_defaults(func=run_clone)

    enqueue = commands.add_parser("enqueue", help="queue a 'created' task for an agent")
    enqueue.add_argument("task_id")
    enqueue.add_argument("--queue", default=DEFAULT_QUEUE,
                         help=f"queue name (default {DEFAULT_QUEUE}; created when missing)")
    enqueue.add_argument("--priority", type=int, default=0,
                         help="higher is claimed first (default 0)")
    add_common_options(enqueue)
    enqueue.set_defaults(func=run_enqueue)

    dequeue = commands.add_parser("dequeue", help="take a queued task out of its queue "
                                                  "(back to 'created')")
    dequeue.add_argument("task_id")
    add_common_options(dequeue)
    dequeue.set_defaults(func=run_dequeue)

    log = commands.add_parser("log", help="print a task's console output")
    log.add_argument("task_id")
    log.add_argument("--follow", "-f", action="store_true",
                     help="keep printing new lines until the task has ended")
    log.add_argument("--tail", type=int, default=None, metavar="N",
                     help="start with the last N lines only")
    add_common_options(log)
    log.set_defaults(func=run_log)


def parse_edits(assignments: Iterable[str]) -> dict[str, str]:
    """``["Args/lr=0.1", "epochs=3"]`` -> ``{"Args/lr": "0.1", "epochs": "3"}`` (the value
    is everything after the first ``=``, kept as text)."""
    edits: dict[str, str] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set {text!r}: expected SECTION/NAME=VALUE or NAME=VALUE")
        edits[key.strip()] = value
    return edits


def run_clone(args: argparse.Namespace) -> int:
    edits = parse_edits(args.edits)
    with open_store(args) as store:
        source = resolve_task(store, args.task_id)
        parent = resolve_task(store, args.parent).id if args.parent else None
        clone = clone_with_edits(store, source.id, name=args.name, parent_id=parent,
                                 edits=edits)
        if args.queue:
            store.queues.enqueue(clone.id, args.queue, args.priority)
    print(clone.id)
    return 0


def run_enqueue(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = store.queues.enqueue(resolve_task(store, args.task_id).id, args.queue,
                                    args.priority)
    print(f"task {task.id} queued in {task.queue} (priority {args.priority})")
    return 0


def run_dequeue(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = store.queues.dequeue(resolve_task(store, args.task_id).id)
    print(f"task {task.id} taken out of its queue: {task.status.value}")
    return 0


def run_log(args: argparse.Namespace) -> int:
    if args.tail is not None and args.tail < 0:
        raise InvalidInput("--tail must be 0 or more")
    try:
        with open_store(args) as store:
            task_id = resolve_task(store, args.task_id).id
            if args.tail is None:
                after = _drain(store, task_id, 0, _print_line)
            else:
                last: deque[LogLine] = deque(maxlen=args.tail)
                after = _drain(store, task_id, 0, last.append)
                for line in last:
                    _print_line(line)
            sys.stdout.flush()
            if args.follow:
                _follow(store, task_id, after)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `| head`: the reader is gone, which is not an error here
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
    return 0


def _follow(store: Store, task_id: str, after: int) -> None:
    """Print new lines every :data:`FOLLOW_POLL_S` seconds until the task is in a final
    status and every line is printed. The status is read before the lines, so the lines
    written before it ended are all printed before returning."""
    while True:
        ended = store.tasks.get_task(task_id).status in TERMINAL
        after = _drain(store, task_id, after, _print_line)
        sys.stdout.flush()
        if ended:
            return
        time.sleep(FOLLOW_POLL_S)


def _drain(store: Store, task_id: str, after: int, emit: Callable[[LogLine], object]) -> int:
    """Hand every line after sequence number ``after`` to ``emit``; returns the last
    sequence number seen."""
    while True:
        lines = store.events.get_logs(task_id, after_seq=after, limit=LOG_PAGE)
        for line in lines:
            emit(line)
        if lines:
            after = lines[-1].seq
        if len(lines) < LOG_PAGE:
            return after


def _print_line(line: LogLine) -> None:
    sys.stdout.write(line.text + "\n")
