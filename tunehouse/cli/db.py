"""``tunehouse db``: schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from tunehouse.cli._options import add_common_options, settings_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database schema: upgrade, current")
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = commands.add_parser("upgrade", help="migrate the database to this version's schema")
    add_common_options(upgrade, server=False)
    upgrade.set_defaults(func=run_upgrade)
    current = commands.add_parser("current", help="show the database's schema revision")
    add_common_options(current, server=False)
    current.set_defaults(func=run_current)


def run_upgrade(args: argparse.Namespace) -> int:
    from tunehouse.store.engine import safe_url
    from tunehouse.store.migrate import upgrade

    settings = settings_from_args(args)
    revision = upgrade(settings.db)
    print(f"{safe_url(settings.db)} is at schema revision {revision}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from tunehouse.store.engine import get_engine, safe_url
    from tunehouse.store.migrate import current_revision, head_revision

    settings = settings_from_args(args)
    current = current_revision(get_engine(settings.db))
    head = head_revision()
    state = "up to date" if current == head else "out of date: run `tunehouse db upgrade`"
    print(f"{safe_url(settings.db)}: revision {current or '(none)'}, "
          f"this tunehouse needs {head} ({state})")
    return 0 if current == head else 1
