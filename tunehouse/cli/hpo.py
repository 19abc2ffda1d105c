"""``tunehouse hpo``: start, watch, resume, stop and export hyperparameter searches.

The search runs in this process (``start``/``resume``) with a live progress line on a
terminal (one plain line per finished trial when the output is a log or a pipe), and ends
with the leaderboard, the best parameters, the parameters' importance and the command that
reruns the best configuration. See docs/hpo.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunehouse.cli._ids import resolve_task
from tunehouse.cli._options import add_common_options, console, open_store, settings_from_args
from tunehouse.errors import InvalidInput
from tunehouse.store.base import Store
from tunehouse.store.records import TaskQuery, TaskStatus, TaskType

if TYPE_CHECKING:
    from tunehouse.hpo.report import SearchReport

#: How many leaderboard rows the end of a search prints.
SHOWN_ROWS = 10


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("hpo", help="hyperparameter search: start, list, show, "
                                               "resume, stop, export")
    commands = parser.add_subparsers(dest="hpo_command", metavar="COMMAND", required=True)
    start = commands.add_parser("start", help="search over clones of a base task")
    start.add_argument("--base-task", required=True, metavar="ID",
                       help="the task whose clones are the trials (id or unique prefix)")
    start.add_argument("--space", required=True, type=Path, metavar="FILE",
                       help="YAML search space: `learning_rate: uniform(0.0001, 0.01)`, "
                            "loguniform(a, b), int(a, b), choice([...]), grid([...])")
    start.add_argument("--objective", action="append", required=True,
                       metavar="TITLE/SERIES:max|min",
                       help="reported metric to optimise (repeat for a Pareto front)")
    start.add_argument("--strategy", choices=("grid", "random", "tpe", "bohb"), default="bohb")
    start.add_argument("--early-stopping", choices=("asha", "hyperband", "median", "none"),
                       default=None, help="default: hyperband for bohb, else none")
    start.add_argument("--max-trials", type=int, default=20, metavar="N")
    start.add_argument("--concurrency", type=int, default=2, metavar="N",
                       help="trials at once (default 2)")
    where = start.add_mutually_exclusive_group()
    where.add_argument("--queue", default=None, help="run the trials on agents of this queue")
    where.add_argument("--local", type=int, default=None, metavar="N",
                       help="run N trials at a time here (default: --concurrency)")
    start.add_argument("--no-warm", dest="warm", action="store_false",
                       help="with --local: start every trial in a fresh Python instead of "
                            "a warm interpreter that imported the base task's packages")
    start.add_argument("--seed", type=int, default=None)
    start.add_argument("--min-iteration", type=int, default=None, metavar="N",
                       help="no trial is pruned before this iteration")
    start.add_argument("--max-iteration", type=int, default=None, metavar="N",
                       help="a trial reaching this iteration is stopped (complete)")
    start.add_argument("--trial-time-limit", type=float, default=None, metavar="SECONDS")
    start.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                       help="the whole search's time limit")
    start.add_argument("--max-failed", type=int, default=None, metavar="N",
                       help="stop the search once N trials failed")
    start.add_argument("--name", default=None, help="name of the controller task")
    start.add_argument("--enqueue", default=None, metavar="QUEUE",
                       help="do not run the search here: hand its controller to QUEUE "
                            "(e.g. services) for an agent to run, and return")
    add_common_options(start)
    start.set_defaults(func=run_start)

    resume = commands.add_parser("resume", help="continue a search whose process died")
    resume.add_argument("search_id", metavar="ID")
    resume_where = resume.add_mutually_exclusive_group()
    resume_where.add_argument("--queue", default=None)
    resume_where.add_argument("--local", type=int, default=None, metavar="N")
    resume.add_argument("--max-trials", type=int, default=None, metavar="N",
                        help="a new total budget")
    resume.add_argument("--force", action="store_true",
                        help="take over even if the old controller may still run")
    add_common_options(resume)
    resume.set_defaults(func=run_resume)

    listing = commands.add_parser("list", help="searches, newest first")
    listing.add_argument("--project", default=None)
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--ids", action="store_true",
                         help="print only the ids, one a line (for scripts)")
    add_common_options(listing)
    listing.set_defaults(func=run_list)
    show = commands.add_parser("show", help="a search's progress, leaderboard and the "
                                            "parameters' importance")
    show.add_argument("search_id", metavar="ID")
    show.add_argument("--rows", type=int, default=SHOWN_ROWS)
    show.add_argument("--no-importance", action="store_true",
                      help="skip the parameters' importance (its first computation loads "
                           "scikit-learn, which takes seconds)")
    add_common_options(show)
    show.set_defaults(func=run_show)
    stop = commands.add_parser("stop", help="stop a running search (its trials are aborted)")
    stop.add_argument("search_id", metavar="ID")
    add_common_options(stop)
    stop.set_defaults(func=run_stop)
    export = commands.add_parser("export", help="every trial with its parameters and values")
    export.add_argument("search_id", metavar="ID")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--output", type=Path, default=None, help="file (default: stdout)")
    add_common_options(export)
    export.set_defaults(func=run_export)


def parse_objective(text: str) -> tuple[str, str, str]:
    """``"validation/accuracy:max"`` -> (title, series, sign); the sign defaults to max."""
    body, sign = text, "max"
    head, colon, tail = text.rpartition(":")
    if colon and tail in ("max", "min"):
        body, sign = head, tail
    title, slash, series = body.rpartition("/")
    if not slash or not title or not series:
        raise InvalidInput(f"--objective {text!r}: write TITLE/SERIES[:max|min], e.g. "
                           "accuracy/validation:max")
    return title, series, sign


# ------------------------------------------------------------------ start / resume
def run_start(args: argparse.Namespace) -> int:
    from tunehouse.hpo.optimizer import HyperParameterOptimizer
    from tunehouse.hpo.space import parse_space

    try:
        text = args.space.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read the search space {args.space}: {exc}") from exc
    objectives = [parse_objective(o) for o in args.objective]
    settings = settings_from_args(args)
    store = open_store(args)
    base = resolve_task(store, args.base_task)
    local = None if args.queue else (args.local or args.concurrency)
    search = HyperParameterOptimizer(
        base.id, parse_space(text), [o[0] for o in objectives], [o[1] for o in objectives],
        [o[2] for o in objectives], strategy=args.strategy, early_stopping=args.early_stopping,
        max_number_of_concurrent_tasks=args.concurrency, execution_queue=args.queue,
        local=local, warm_start=args.warm, total_max_jobs=args.max_trials,
        min_iteration_per_job=args.min_iteration,
        max_iteration_per_job=args.max_iteration, time_limit_per_job=args.trial_time_limit,
        optimization_time_limit=args.time_limit, max_failed_jobs=args.max_failed,
        seed=args.seed, name=args.name, store=store, settings=settings)
    if args.enqueue:
        try:
            controller = search.enqueue(args.enqueue)
        finally:
            store.close()
        print(f"search {controller.id} queued in {args.enqueue!r}: an agent serving it runs "
              f"the search; watch it with `tunehouse hpo show {controller.id}`")
        return 0
    return _run(search, store)


def run_resume(args: argparse.Namespace) -> int:
    from tunehouse.hpo.optimizer import HyperParameterOptimizer

    settings = settings_from_args(args)
    store = open_store(args)
    controller = resolve_task(store, args.search_id)
    search = HyperParameterOptimizer.resume(
        controller.id, store=store, settings=settings, force=args.force,
        execution_queue=args.queue, local=args.local, total_max_jobs=args.max_trials)
    return _run(search, store)


def _run(search: Any, store: Store) -> int:
    """Start ``search``, show its progress until it ends, then its results."""
    out = console()
    try:
        search.start()
        out.print(f"search {search.id}: {search.config.strategy} over "
                  f"{search.config.total_max_jobs} trials, objective "
                  f"{', '.join(o.label for o in search.config.objectives)}; stop with Ctrl-C, "
                  f"continue later with `tunehouse hpo resume {search.id}`")
        _follow(search, out)
        status, reason = search.ending or ("unknown", "")
        _print_results(search, out)
        out.print(f"search {search.id} {status}: {reason}")
        completed = search.counts().get("completed", 0)
        return 0 if status == TaskStatus.completed.value and completed else 1
    except KeyboardInterrupt:
        search.stop()
        out.print(f"search {search.id} stopped; resume it with "
                  f"`tunehouse hpo resume {search.id}`")
        return 130
    finally:
        search.close()
        store.close()


def _follow(search: Any, out: Any) -> None:
    """Show the search's progress until it ends: a live line on a terminal, else (a log,
    CI) one plain line per trial as it finishes (:func:`trial_lines`)."""
    if not out.is_terminal:
        _follow_plain(search, out)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    budget = search.config.total_max_jobs
    columns = (TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=out, transient=False) as bar:
        line = bar.add_task("", total=budget)
        while not search.wait(timeout=0.5):
            report = search.report()
            bar.update(line, completed=report.budget.done, description=_describe(report))
        report = search.report()
        bar.update(line, completed=report.budget.done, total=max(budget, report.budget.done),
                   description=_describe(report))


def _follow_plain(search: Any, out: Any) -> None:
    seen: set[int] = set()
    while True:
        ended = search.wait(timeout=0.5)
        for line in trial_lines(search.report(), seen):
            out.print(line, markup=False, highlight=False)
        if ended:
            return


def trial_lines(report: SearchReport, seen: set[int]) -> list[str]:
    """One line per trial of ``report`` that finished and is not in ``seen`` (which it is
    then added to), by trial number: its outcome and objective value(s) or reason, the
    best so far, the trials done of the budget and the time the search has run, e.g.
    ``trial 3 completed: accuracy/validation 0.9512 | best 0.9512 (trial 3) | 4/20 done |
    1m05s``."""
    lines = []
    budget = report.budget
    elapsed = budget.elapsed_s or 0.0
    clock = f"{int(elapsed // 60)}m{int(elapsed % 60):02d}s"
    for trial in sorted(report.trials, key=lambda t: t.number):
        if trial.number in seen or trial.state == "running":
            continue
        seen.add(trial.number)
        if trial.state == "completed" and trial.values:
            outcome = ", ".join(f"{o.label} {v:.4g}"
                                for o, v in zip(report.objectives, trial.values, strict=False))
        else:
            outcome = trial.reason or "no objective value"
        lines.append(f"trial {trial.number} {trial.state}: {outcome} | "
                     f"{_best_text(report)} | "
                     f"{budget.done}/{budget.total} done | {clock}")
    return lines


def _best_text(report: SearchReport) -> str:
    """``best 0.9512 (trial 3)``, or ``best -`` before a trial completed."""
    best = report.best
    return (f"best {best.values[0]:.4g} (trial {best.number})"
            if best is not None and best.values else "best -")


def _describe(report: SearchReport) -> str:
    counts = report.counts
    return (f"{_best_text(report)} | running {counts.get('running', 0)} | pruned "
            f"{counts.get('pruned', 0)} | failed {counts.get('failed', 0)}")


def _print_results(search: Any, out: Any) -> None:
    report = search.report()
    out.print(_board(report.rows(), [o.label for o in report.objectives], SHOWN_ROWS))
    if report.config.multi_objective:
        out.print("Pareto front: trials "
                  f"{', '.join(str(n) for n in report.front) or '-'}")
    best = report.best
    if best is None:
        out.print("no trial completed")
        return
    _print_importance(report, out)
    if report.config.multi_objective:
        return
    out.print("best parameters: " + ", ".join(f"{k}={v}" for k, v in best.parameters.items()))
    edits = " ".join(f"--set {k}={v}" for k, v in best.parameters.items())
    out.print(f"rerun the best: tunehouse tasks clone {report.config.base_task_id} "
              f"{edits} --queue default   (trial task {best.task_id}; "
              f"`tunehouse tasks show {best.task_id}`)")


def _print_importance(report: SearchReport, out: Any) -> None:
    """The parameters' importance as the search page shows it: the same figures (three
    decimals), the trials they rest on and whether that is enough."""
    found = report.importance()
    head = (f"importance for {found.objective} ({found.method} over {found.n_trials} "
            f"complete trials)")
    if found.values and not found.reliable:
        head += " UNRELIABLE"
    out.print(head + (f": {found.note}" if found.note else ":"), markup=False)
    width = max((len(name) for name in found.values), default=0)
    for name, value in found.values.items():
        out.print(f"  {name:<{width}}  {value:.3f}", markup=False)


def _board(rows: list[dict[str, Any]], labels: list[str], limit: int) -> Any:
    from rich.table import Table

    names = sorted({name for row in rows for name in row["parameters"]})
    table = Table(title=f"leaderboard ({len(rows)} trials)", show_lines=False)
    for column in ("#", "trial", "state", *labels, "iter", *names, "reason"):
        table.add_column(column, overflow="fold")
    for row in rows[:limit]:
        table.add_row(str(row["rank"] or "-"), str(row["number"]), row["state"],
                      *[_number(row["objectives"].get(label)) for label in labels],
                      "-" if row["iteration"] is None else str(row["iteration"]),
                      *[row["parameters"].get(name, "") for name in names],
                      (row["reason"] or "")[:60])
    return table


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.5g}"


# ------------------------------------------------------------------ reading searches
def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        page = store.tasks.list_tasks(TaskQuery(project=args.project, type=[TaskType.optimizer],
                                                order_by="created", descending=True,
                                                limit=args.limit))
    if args.ids:
        for task in page.tasks:
            print(task.id)
        return 0
    table_out = console()
    from rich.table import Table

    table = Table()
    for column in ("id", "project", "name", "status", "started", "reason"):
        table.add_column(column)
    for task in page.tasks:
        table.add_row(task.id, task.project, task.name, task.status.value,
                      task.started.strftime("%Y-%m-%d %H:%M") if task.started else "-",
                      task.status_reason[:60])
    table_out.print(table)
    return 0


def _report(store: Store, search_id: str) -> SearchReport:
    from tunehouse.hpo.report import load_report

    return load_report(store, resolve_task(store, search_id).id)


def run_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        report = _report(store, args.search_id)
    task, budget = report.controller, report.budget
    out = console()
    out.print(f"search {task.id} ({task.name}): {task.status.value} {task.status_reason}")
    out.print(f"trials: {budget.done} done of {budget.total}, "
              + ", ".join(f"{state} {n}" for state, n in report.counts.items())
              + (" (read from the children: no leaderboard yet)"
                 if report.source == "children" else ""))
    out.print(_board(report.rows(), [o.label for o in report.objectives], args.rows))
    if report.config.multi_objective:
        out.print(f"Pareto front: trials {', '.join(str(n) for n in report.front) or '-'}")
    if not args.no_importance:
        _print_importance(report, out)
    return 0


def run_stop(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task = resolve_task(store, args.search_id)
        store.tasks.request_abort(task.id, "stopped by request")
    print(f"search {task.id}: stop requested (its running trials will be aborted)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        trials = _report(store, args.search_id).rows()
    if args.format == "json":
        text = json.dumps(trials, indent=1) + "\n"
    else:
        names = sorted({name for row in trials for name in row["parameters"]})
        labels = sorted({label for row in trials for label in row["objectives"]})
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["rank", "trial", "task_id", "state", *labels, "iteration", *names,
                         "reason"])
        for row in trials:
            writer.writerow([row.get("rank") or "", row["number"], row["task_id"], row["state"],
                             *[row["objectives"].get(label, "") for label in labels],
                             "" if row["iteration"] is None else row["iteration"],
                             *[row["parameters"].get(name, "") for name in names],
                             row["reason"]])
        text = buffer.getvalue()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"{len(trials)} trials written to {args.output}")
    return 0
