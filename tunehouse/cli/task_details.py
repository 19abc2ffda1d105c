"""``tunehouse tasks show ID --diff | --packages | --console``: what a task recorded, whole.

Each section is printed as it was recorded so that it can be piped: the uncommitted diff to
``git apply`` (untracked files follow as ``#`` comment lines, which ``git apply`` skips), the
packages to a ``requirements.txt`` (the Python version is a ``#`` comment line), the console
to ``grep``. On a terminal the diff is coloured. Notes such as "no diff recorded" go to
stderr, so stdout holds only the recorded text. With several flags, each section is
preceded by a ``==> NAME <==`` line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from tunehouse.store.base import Store
from tunehouse.store.records import Task

#: Console lines fetched per request.
LOG_PAGE = 5000
#: The sections, in the order they are printed.
SECTIONS = ("diff", "packages", "console")


def print_sections(store: Store, task: Task, wanted: list[str], out: TextIO | None = None) -> None:
    """Print the ``wanted`` sections (names of :data:`SECTIONS`) of ``task`` to ``out``
    (default: stdout)."""
    out = sys.stdout if out is None else out
    printers: dict[str, Callable[[Store, Task, TextIO], None]] = {
        "diff": print_diff, "packages": print_packages, "console": print_console}
    chosen = [name for name in SECTIONS if name in wanted]
    for position, name in enumerate(chosen):
        if len(chosen) > 1:
            out.write(("\n" if position else "") + f"==> {name} <==\n")
        printers[name](store, task, out)
        out.flush()


def print_diff(store: Store, task: Task, out: TextIO) -> None:
    """The recorded uncommitted diff (coloured on a terminal), then the untracked files."""
    script = store.tasks.get_script(task.id)
    if not script.diff and not script.untracked_files:
        _note(f"task {task.id} recorded no uncommitted changes")
        return
    if script.diff:
        text = script.diff if script.diff.endswith("\n") else script.diff + "\n"
        if out.isatty():
            from rich.console import Console
            from rich.syntax import Syntax

            Console(file=out, highlight=False).print(
                Syntax(text.rstrip("\n"), "diff", background_color="default"), soft_wrap=True)
        else:
            out.write(text)
    if script.untracked_files:
        out.write(f"# untracked files (not in the diff): {len(script.untracked_files)}\n")
        for name in script.untracked_files:
            out.write(f"#   {name}\n")


def print_packages(store: Store, task: Task, out: TextIO) -> None:
    """``# python X.Y.Z``, then the installed packages one per line."""
    env = store.tasks.get_environment(task.id)
    if not env.python and not env.packages:
        _note(f"task {task.id} recorded no environment")
        return
    if env.python:
        out.write(f"# python {env.python}\n")
    if not env.packages:
        _note(f"task {task.id} recorded no package list")
    for package in env.packages:
        out.write(package + "\n")


def print_console(store: Store, task: Task, out: TextIO) -> None:
    """Every console line the task logged, oldest first, fetched :data:`LOG_PAGE` at a time."""
    after, printed = 0, 0
    while True:
        lines = store.events.get_logs(task.id, after_seq=after, limit=LOG_PAGE)
        for line in lines:
            out.write(line.text + "\n")
        printed += len(lines)
        if lines:
            after = lines[-1].seq
        if len(lines) < LOG_PAGE:
            break
    if not printed:
        _note(f"task {task.id} logged no console output")


def _note(text: str) -> None:
    print(text, file=sys.stderr)
