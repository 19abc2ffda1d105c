"""``tunehouse users``: accounts and lockouts, through the server when one is set
(``--server``, ``TUNEHOUSE_SERVER``; the key must be an admin's), else directly on the
database (``--db``), through the store's account areas either way."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from typing import Any

from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_accounts, when
from tunehouse.errors import InvalidInput


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "users", help="user accounts: add, list, disable, enable, lockouts, unlock")
    commands = parser.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    add = commands.add_parser(
        "add", help="create a user",
        description="Create a user. The password is read from stdin with --password-stdin, "
                    "asked for on a terminal, or else generated and printed once.")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="make the user an admin")
    add.add_argument("--agent", action="store_true",
                     help="an agent's account: may act for the owners of the tasks it runs "
                          "(without being an admin)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin")
    add.set_defaults(func=run_add)
    listing = commands.add_parser("list", help="list users")
    listing.set_defaults(func=run_list)
    helps = {
        "disable": ("disable a user: they cannot log in and their API keys stop working",
                    "Disable a user. A disabled user cannot log in and their API keys stop "
                    "working (they are kept, not revoked: `tunehouse users enable` brings "
                    "them back). Their tasks and models stay. Recorded in the audit log."),
        "enable": ("enable a disabled user again: login and API keys work again",
                   "Enable a user that `tunehouse users disable` disabled: they can log in "
                   "again and their API keys that were not revoked work again. Recorded "
                   "in the audit log."),
    }
    for name, disabled in (("disable", True), ("enable", False)):
        short, long = helps[name]
        sub = commands.add_parser(name, help=short, description=long)
        sub.add_argument("name", help=f"the user to {name}")
        sub.set_defaults(func=run_set_disabled, disabled=disabled)
    lockouts = commands.add_parser(
        "lockouts", help="list users, keys and addresses locked by failed sign-ins",
        description="List the keys locked by failed sign-ins or API-key checks "
                    "(user:<name>, addr:<client address>, key:<access key>): every attempt "
                    "for them is refused (429) until the time shown. --all: every key with "
                    "counted failures, locked or not.")
    lockouts.add_argument("--all", action="store_true", dest="every",
                          help="also the keys with failures that are not locked")
    lockouts.set_defaults(func=run_lockouts)
    unlock = commands.add_parser(
        "unlock", help="unlock a key locked by failed sign-ins (user:NAME, addr:ADDRESS, ...)",
        description="Unlock a key that failed sign-ins or API-key checks locked and forget "
                    "its failures: KEY is user:<name>, addr:<client address> or key:<access "
                    "key> (as `tunehouse users lockouts` lists them); a plain name means "
                    "user:<name>. Recorded in the audit log.")
    unlock.add_argument("key", help="user:<name>, addr:<address>, key:<access key> or a name")
    unlock.set_defaults(func=run_unlock)
    for sub in (add, listing, lockouts, unlock,
                *[commands.choices[n] for n in ("disable", "enable")]):
        add_common_options(sub)


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether it was generated (and must be shown)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on stdin")
        return password, False
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.name}: ")
        if password != getpass.getpass("Repeat it: "):
            raise InvalidInput("the passwords do not match")
        return password, False
    return secrets.token_urlsafe(15), True


def run_add(args: argparse.Namespace) -> int:
    password, generated = _read_password(args)
    with open_accounts(args) as accounts:
        user = accounts.users.create_user(args.name, password, admin=args.admin,
                                          agent=args.agent)
    role = "admin" if user.admin else "agent" if user.agent else "user"
    print(f"created {role} {user.name}")
    if generated:
        print(f"password: {password}  (shown once)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        users = accounts.users.list_users()
    table = Table("name", "admin", "agent", "source", "disabled", "created")
    for user in users:
        table.add_row(user.name, "yes" if user.admin else "", "yes" if user.agent else "",
                      user.source, "yes" if user.disabled else "", when(user.created))
    console().print(table)
    return 0


def run_lockouts(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        found = accounts.throttle.list_lockouts(every=args.every)
    if not found:
        print("no failed sign-ins are counted" if args.every else "nothing is locked")
        return 0
    table = Table("key", "failures", "first failure", "last failure", "locked until")
    for entry in found:
        table.add_row(entry.key, str(entry.failures), when(entry.first_failure),
                      when(entry.last_failure), when(entry.locked_until))
    console().print(table)
    return 0


def run_unlock(args: argparse.Namespace) -> int:
    key = args.key if ":" in args.key else f"user:{args.key}"
    with open_accounts(args) as accounts:
        cleared = accounts.throttle.clear_lockout(key)
    was = f"locked until {when(cleared.locked_until)}" if cleared.locked_until else "not locked"
    print(f"unlocked {cleared.key} ({cleared.failures} failures, {was})")
    return 0


def run_set_disabled(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        user = accounts.users.set_user_disabled(args.name, args.disabled)
    print(f"{user.name} is {'disabled' if user.disabled else 'enabled'}")
    return 0
