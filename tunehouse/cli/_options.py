"""Options and helpers shared by the command groups."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from tunehouse.settings import Settings

if TYPE_CHECKING:
    from tunehouse.server.accounts import Accounts
    from tunehouse.store.base import Store
    from tunehouse.store.sql import SqlStore


def add_common_options(parser: argparse.ArgumentParser, server: bool = True) -> None:
    """``--data-dir`` and ``--db`` (and ``--server`` when the command can use one)."""
    group = parser.add_argument_group("where the data is")
    group.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                       help="data directory (default: $TUNEHOUSE_HOME or ~/.tunehouse)")
    group.add_argument("--db", default=None, metavar="URL",
                       help="database URL (default: $TUNEHOUSE_DB or SQLite in the data dir)")
    if server:
        group.add_argument("--server", default=None, metavar="URL",
                           help="tracking server URL (default: $TUNEHOUSE_SERVER; "
                                "unset: work on the database directly)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(home=getattr(args, "data_dir", None), db=getattr(args, "db", None),
                             server=getattr(args, "server", None))


def open_store(args: argparse.Namespace) -> Store:
    """The store the options point at: the server when one is set, else the database."""
    from tunehouse.client import open_store as open_configured

    return open_configured(settings_from_args(args), user=getpass.getuser())


def open_database(args: argparse.Namespace) -> SqlStore:
    """The SQL store of ``--db`` (default: the settings' database), ignoring any server."""
    from tunehouse.store.sql import SqlStore

    settings = settings_from_args(args)
    return SqlStore.from_settings(settings, user=f"cli:{getpass.getuser()}")


@contextmanager
def open_accounts(args: argparse.Namespace) -> Iterator[Accounts]:
    """Users, keys and audit log of the ``--db`` database (closed afterwards)."""
    from tunehouse.server.accounts import Accounts

    with open_database(args) as store:
        yield Accounts.of(store)


def console() -> Console:
    """A console for tables: real width on a terminal, wide enough not to cut ids in pipes."""
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
