"""``tunehouse projects``: list projects, and the roles on them (``grant``, ``revoke``,
``access``, the accounts' ``roles`` area): through the server when one is set (the key's
user must own the project), else directly on the database (``--db``) as ``cli:<login>``,
unchecked, like ``tunehouse users``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from tunehouse.cli._options import (
    add_common_options,
    console,
    open_accounts,
    open_store,
    when,
)

ROLES = ("viewer", "editor", "owner")
_ROLES_HELP = ("Roles: viewer (read), editor (also change, run and report), owner (also "
               "delete tasks and hand out roles). Sub-projects inherit the roles of their "
               "parents. With a server set (TUNEHOUSE_SERVER or --server) this goes through "
               "it and the key's user must own the project; else it is written on the "
               "database directly (--db), as `tunehouse users` does.")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("projects", help="projects: list, grant, revoke, access")
    commands = parser.add_subparsers(dest="projects_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="list projects")
    add_common_options(listing)
    listing.set_defaults(func=run_list)
    grant = commands.add_parser("grant", help="give a user a role on a project",
                                description="Give USER the role ROLE on PROJECT (replacing "
                                            "the role granted there before). " + _ROLES_HELP)
    grant.add_argument("project", help="project name (team/vision) or id")
    grant.add_argument("user")
    grant.add_argument("role", choices=ROLES)
    grant.set_defaults(func=run_grant)
    revoke = commands.add_parser("revoke", help="take back the role granted to a user",
                                 description="Take back the role granted to USER on PROJECT "
                                             "itself (roles inherited from parent projects "
                                             "stay). " + _ROLES_HELP)
    revoke.add_argument("project", help="project name (team/vision) or id")
    revoke.add_argument("user")
    revoke.set_defaults(func=run_revoke)
    access = commands.add_parser("access", help="who has which role on a project",
                                 description="Who has a role of their own on PROJECT: granted "
                                             "there, inherited from a parent project, or "
                                             "owner as a creator. Admins and the server's "
                                             "default role (TUNEHOUSE_DEFAULT_PROJECT_ROLE) "
                                             "are not listed.")
    access.add_argument("project", help="project name (team/vision) or id")
    access.set_defaults(func=run_access)
    for sub in (grant, revoke, access):
        add_common_options(sub)


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        projects = store.tasks.list_projects()
    table = Table("name", "id", "user", "created", "description")
    for project in projects:
        table.add_row(project.name, project.id, project.user, when(project.created),
                      project.description)
    console().print(table)
    return 0


def run_grant(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        accounts.roles.grant_role(args.project, args.user, args.role)
    print(f"{args.user} is {args.role} of {args.project}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        revoked = accounts.roles.revoke_role(args.project, args.user)
    if not revoked:
        print(f"{args.user} had no role of their own on {args.project}")
        return 0
    print(f"revoked the role of {args.user} on {args.project}")
    return 0


def run_access(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        entries = accounts.roles.list_access(args.project)
    table = Table("user", "role", "from", "granted by")
    for entry in entries:
        table.add_row(entry.user, entry.role, entry.inherited_from or "this project",
                      entry.granted_by or "(creator)")
    console().print(table)
    return 0
