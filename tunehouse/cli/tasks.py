"""``tunehouse tasks``: list and inspect tasks; abort, reset, and reap lost ones.

Cloning, queueing and following the console are in :mod:`tunehouse.cli.task_runs`, registered
under the same group.
"""

from __future__ import annotations

import argparse
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_store, when
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.base import Store
from tunehouse.store.records import LOST_AFTER_S, StatusChange, Task, TaskQuery, TaskStatus

PREFIX_SCAN_LIMIT = 20_000


def register(subparsers: Any) -> None:
    from tunehouse.cli import task_runs

    parser = subparsers.add_parser(
        "tasks", help="tasks: list, show, clone, enqueue, dequeue, log, abort, reset, reap")
    commands = parser.add_subparsers(dest="tasks_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="list tasks, newest first")
    listing.add_argument("--project", default=None, help="only this project")
    listing.add_argument("--status", action="append", default=None,
                         choices=[status.value for status in TaskStatus],
                         help="only tasks in this status (repeatable)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_common_options(listing)
    listing.set_defaults(func=run_list)
    show = commands.add_parser("show", help="show one task (id or unique id prefix)")
    show.add_argument("task_id")
    add_common_options(show)
    show.set_defaults(func=run_show)
    abort = commands.add_parser(
        "abort", help="abort a task (a running one without an agent that shows no life "
                      "ends at once; otherwise its process is asked to stop)")
    abort.add_argument("task_id")
    abort.add_argument("--reason", default="", help="why (kept as the status reason)")
    add_common_options(abort)
    abort.set_defaults(func=run_abort)
    reset = commands.add_parser(
        "reset", help="reset a finished task to 'created', clearing its outputs")
    reset.add_argument("task_id")
    add_common_options(reset)
    reset.set_defaults(func=run_reset)
    reap = commands.add_parser(
        "reap", help="fail running tasks whose process shows no life (what the server's "
                     "watchdog does; for the embedded database)")
    reap.add_argument("--after", type=float, default=LOST_AFTER_S, metavar="SECONDS",
                      help=f"quiet for this long (default {LOST_AFTER_S:g})")
    add_common_options(reap)
    reap.set_defaults(func=run_reap)
    task_runs.register(commands)


def run_abort(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = store.tasks.request_abort(resolve_task(store, args.task_id).id, args.reason)
    if task.status is TaskStatus.aborted:
        print(f"task {task.id} aborted")
    else:
        print(f"task {task.id} is {task.status.value}: abort requested, its process will stop")
    return 0


def run_reset(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task_id = resolve_task(store, args.task_id).id
        task = store.tasks.change_status(task_id, StatusChange(
            status=TaskStatus.created, reason="reset"))
    print(f"task {task.id} reset to {task.status.value}")
    return 0


def run_reap(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        reaped = store.tasks.reap_lost_tasks(args.after)
    for task in reaped:
        print(f"{task.id} {task.status.value}: {task.status_reason}")
    print(f"{len(reaped)} task(s) changed")
    return 0


def run_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise InvalidInput("--limit must be between 1 and 1000")
    query = TaskQuery(project=args.project, limit=args.limit,
                      status=[TaskStatus(s) for s in args.status] if args.status else None)
    with open_store(args) as store:
        page = store.tasks.list_tasks(query)
    table = Table("id", "project", "name", "type", "status", "user", "created",
                  title=f"{len(page.tasks)} of {page.total} tasks")
    for task in page.tasks:
        table.add_row(task.id, task.project, task.name, task.type.value, task.status.value,
                      task.user, when(task.created))
    console().print(table)
    return 0


def resolve_task(store: Store, task_id: str) -> Task:
    """The task with id ``task_id``, or the only one whose id starts with it."""
    try:
        return store.tasks.get_task(task_id)
    except NotFound:
        if len(task_id) < 4:
            raise
    matches = [task for task in store.tasks.iter_tasks(TaskQuery(limit=1000),
                                                       at_most=PREFIX_SCAN_LIMIT)
               if task.id.startswith(task_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidInput(f"task id prefix {task_id!r} is ambiguous: "
                           + ", ".join(task.id for task in matches[:5]))
    raise NotFound(f"no task with id (or id prefix) {task_id!r}")


def run_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = resolve_task(store, args.task_id)
        _print_task(console(), store, task)
    return 0


def _print_task(out: Console, store: Store, task: Task) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows = [
        ("id", task.id), ("name", task.name), ("project", task.project),
        ("type", task.type.value), ("status", task.status.value
                                    + (f" ({task.status_reason})" if task.status_reason else "")),
        ("user", task.user), ("created", when(task.created)), ("started", when(task.started)),
        ("completed", when(task.completed)), ("queue", task.queue or "-"),
        ("worker", task.worker or "-"), ("attempt", str(task.attempt)),
        ("tags", ", ".join(task.tags) or "-"), ("parent", task.parent_id or "-"),
        ("comment", task.comment or "-"),
    ]
    for name, value in rows:
        head.add_row(name, value)
    out.print(head)

    params = store.tasks.get_parameters(task.id)
    if params:
        out.print()
        for section, items in groupby(params, key=lambda p: p.section):
            table = Table("name", "value", "type", title=f"parameters: {section}",
                          title_justify="left")
            for param in items:
                table.add_row(param.name, param.value, param.type)
            out.print(table)

    metrics = store.events.get_metric_summaries(task.id)
    if metrics:
        table = Table("metric", "series", "last", "min", "max", "iteration", "points",
                      title="metrics", title_justify="left")
        for m in metrics:
            table.add_row(m.title, m.series, _num(m.last), _num(m.min), _num(m.max),
                          str(m.last_iteration), str(m.count))
        out.print(table)

    script = store.tasks.get_script(task.id)
    env = store.tasks.get_environment(task.id)
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    if script.repository or script.entry_point or script.script_text:
        info.add_row("repository", script.repository or "-")
        info.add_row("branch/commit", f"{script.branch or '-'} {script.commit[:12] or ''}")
        info.add_row("entry point", script.entry_point or "-")
        info.add_row("uncommitted diff", f"{len(script.diff.splitlines())} lines"
                     if script.diff else "none")
    if env.python or env.hostname:
        info.add_row("python", env.python or "-")
        info.add_row("platform", env.platform or "-")
        info.add_row("host", env.hostname or "-")
        info.add_row("packages", str(len(env.packages)))
        info.add_row("random seed", "-" if env.seed is None else str(env.seed))
        if script.argv:
            info.add_row("command line", " ".join(script.argv))
        if env.gpus:
            info.add_row("gpus", ", ".join(str(g.get("name", g)) for g in env.gpus))
    if info.row_count:
        out.print()
        out.print("[bold]script and environment[/bold]")
        out.print(info)

    artifacts = store.artifacts.list_artifacts(task.id)
    if artifacts:
        table = Table("artifact", "kind", "size", "sha256", title="artifacts", title_justify="left")
        for artifact in artifacts:
            table.add_row(artifact.name, artifact.kind, str(artifact.size), artifact.sha256[:12])
        out.print(table)
    models = store.models.list_models(task_id=task.id)
    if models:
        table = Table("model", "version", "framework", "stages", "size", title="output models",
                      title_justify="left")
        for model in models:
            table.add_row(model.name, str(model.version), model.framework,
                          ", ".join(model.stages) or "-", str(model.size))
        out.print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
