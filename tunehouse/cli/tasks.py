"""``tunehouse tasks``: list and inspect tasks; abort, reset, and reap lost ones.

Cloning, queueing and following the console are in :mod:`tunehouse.cli.task_runs`, registered
under the same group.
"""

from __future__ import annotations

import argparse
import os
import sys
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.table import Table

from tunehouse.cli._ids import resolve_task
from tunehouse.cli._options import add_common_options, console, open_store, when
from tunehouse.errors import InvalidInput
from tunehouse.store.base import Store
from tunehouse.store.records import LOST_AFTER_S, StatusChange, Task, TaskQuery, TaskStatus


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
    listing.add_argument("--columns", action="append", default=None, metavar="SPEC[,SPEC...]",
                         help="extra columns (repeatable or comma-separated): "
                              "param:<section>/<name>, metric:<title>/<series>[:last|:min|:max]")
    listing.add_argument("--filter", action="append", default=None, metavar="EXPR",
                         dest="filters",
                         help="only tasks where COLUMN OP VALUE holds, OP one of = != < <= > >= "
                              "(repeatable, all must hold): 'param:General/lr<=0.01', "
                              "'metric:val/loss:min < 0.2', 'status=completed'")
    listing.add_argument("--order", default="created", metavar="SPEC",
                         help="sort by created (default), updated, name, status, type or a "
                              "column spec; tasks lacking the value come last")
    listing.add_argument("--asc", action="store_true", help="ascending (default: descending)")
    add_common_options(listing)
    listing.set_defaults(func=run_list)
    show = commands.add_parser(
        "show", help="show one task (id or unique id prefix); --diff, --packages, --console: "
                     "print what it recorded instead",
        description="Show a task: parameters, metrics, script, environment, artifacts, "
                    "models. With --diff, --packages or --console (combinable) print that "
                    "recorded text instead, whole and pipeable.")
    show.add_argument("task_id", help="the task (id or unique id prefix)")
    show.add_argument("--diff", action="store_true",
                      help="the uncommitted git diff recorded with the task (coloured on a "
                           "terminal) and the untracked files")
    show.add_argument("--packages", action="store_true",
                      help="the Python version and the installed packages, one per line")
    show.add_argument("--console", action="store_true",
                      help="every line of the task's console output")
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
    columns = [spec.strip() for specs in args.columns or [] for spec in specs.split(",")
               if spec.strip()]
    query = TaskQuery(project=args.project, limit=args.limit,
                      status=[TaskStatus(s) for s in args.status] if args.status else None,
                      columns=columns or None, filters=args.filters, order_by=args.order,
                      descending=not args.asc)
    with open_store(args) as store:
        page = store.tasks.list_tasks(query)
    table = Table("id", "project", "name", "type", "status", "user", "created", *columns,
                  title=f"{len(page.tasks)} of {page.total} tasks")
    for task in page.tasks:
        values = page.values.get(task.id, {})
        table.add_row(task.id, task.project, task.name, task.type.value, task.status.value,
                      task.user, when(task.created), *(_cell(values, spec) for spec in columns))
    console().print(table)
    return 0


def _cell(values: dict[str, Any], spec: str) -> str:
    """A column's value in ``tasks list``: numbers compact (``0.001``, ``1.5e+04``), ``-``
    when the task lacks it."""
    value = values.get(spec)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def run_show(args: argparse.Namespace) -> int:
    from tunehouse.cli.task_details import SECTIONS, print_sections

    wanted = [name for name in SECTIONS if getattr(args, name, False)]
    with open_store(args) as store:
        task = resolve_task(store, args.task_id)
        if not wanted:
            _print_task(console(), store, task)
            return 0
        try:
            print_sections(store, task, wanted)
        except BrokenPipeError:  # `| head`: the reader is gone, which is not an error here
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
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
        info.add_row("uncommitted diff", f"{len(script.diff.splitlines())} lines (see --diff)"
                     if script.diff else "none")
        if script.untracked_files:
            info.add_row("untracked files", f"{len(script.untracked_files)} (see --diff)")
    if env.python or env.hostname:
        info.add_row("python", env.python or "-")
        info.add_row("platform", env.platform or "-")
        info.add_row("host", env.hostname or "-")
        info.add_row("packages", f"{len(env.packages)} (see --packages)" if env.packages
                     else "0")
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
