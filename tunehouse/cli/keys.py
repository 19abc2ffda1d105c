"""``tunehouse keys``: API keys, through the server when one is set (``--server``,
``TUNEHOUSE_SERVER``: one's own keys, an admin's key for anyone's), else directly on the
database (``--db``)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_accounts, when


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="API keys: create, list, revoke")
    commands = parser.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    create = commands.add_parser("create", help="create an API key (the secret is shown once)")
    create.add_argument("--user", default="admin", help="owner of the key (default: admin)")
    create.add_argument("--description", default="", help="what the key is for")
    create.set_defaults(func=run_create)
    listing = commands.add_parser("list", help="list API keys")
    listing.add_argument("--user", default=None, help="only this user's keys")
    listing.set_defaults(func=run_list)
    revoke = commands.add_parser("revoke", help="revoke an API key")
    revoke.add_argument("access_key")
    revoke.set_defaults(func=run_revoke)
    for sub in (create, listing, revoke):
        add_common_options(sub)


def run_create(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        key = accounts.keys.create_api_key(args.user, args.description)
    print(f"access key: {key.access_key}")
    print(f"secret key: {key.secret_key}")
    print(f"(for user {key.user}; the secret is shown only now)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        keys = accounts.keys.list_api_keys(args.user)
    table = Table("access key", "user", "description", "revoked", "created", "last used")
    for key in keys:
        table.add_row(key.access_key, key.user, key.description, "yes" if key.revoked else "",
                      when(key.created), when(key.last_used))
    console().print(table)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with open_accounts(args) as accounts:
        key = accounts.keys.revoke_api_key(args.access_key)
    print(f"revoked {key.access_key} (user {key.user})")
    return 0
