"""``tunehouse projects``: list projects."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_store, when


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("projects", help="projects: list")
    commands = parser.add_subparsers(dest="projects_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="list projects")
    add_common_options(listing)
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        projects = store.tasks.list_projects()
    table = Table("name", "id", "user", "created", "description")
    for project in projects:
        table.add_row(project.name, project.id, project.user, when(project.created),
                      project.description)
    console().print(table)
    return 0
