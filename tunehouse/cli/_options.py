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
    from tunehouse.store.accounts import Accounts
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


def open_store(args: argparse.Namespace, user: str | None = "") -> Store:
    """The store the options point at: the server when one is set, else the database.

    ``user`` is the embedded store's acting user ("": the login name; None: the store's
    default). See :func:`check_server` for what is checked before a server is used.
    """
    from tunehouse.client import open_store as open_configured

    settings = settings_from_args(args)
    check_server(settings, args)
    return open_configured(settings, user=getpass.getuser() if user == "" else user)


def check_server(settings: Settings, args: argparse.Namespace | None = None) -> None:
    """With a server set but no API key configured, check first that the server answers,
    so that a wrong or unreachable URL is reported as such rather than as a missing key.

    Raises:
        ServerUnavailable: the server cannot be reached (the message names the setting).
    """
    if not settings.server or (settings.access_key and settings.secret_key):
        return
    from tunehouse.client.transport import probe_server

    hint = "--server" if getattr(args, "server", None) else "TUNEHOUSE_SERVER"
    probe_server(settings.server, hint=hint)


def open_database(args: argparse.Namespace) -> SqlStore:
    """The SQL store of ``--db`` (default: the settings' database), ignoring any server."""
    from tunehouse.store.sql import SqlStore

    settings = settings_from_args(args)
    return SqlStore.from_settings(settings, user=f"cli:{getpass.getuser()}")


@contextmanager
def open_accounts(args: argparse.Namespace) -> Iterator[Accounts]:
    """The account areas the options point at (closed afterwards): the server's when one
    is set (its key must be an admin's to manage accounts), else the database's, acting as
    ``cli:<login>`` (whoever opens the database may do anything on it). An explicit
    ``--db`` without ``--server`` picks the database even when ``TUNEHOUSE_SERVER`` is set."""
    settings = settings_from_args(args)
    explicit_db = getattr(args, "db", None) and not getattr(args, "server", None)
    if settings.server and not explicit_db:
        from tunehouse.client.accounts import HttpAccounts

        check_server(settings, args)
        with HttpAccounts.from_settings(settings) as remote:
            yield remote
        return
    from tunehouse.server.accounts import open_accounts as open_database_accounts

    with open_database(args) as store:
        yield open_database_accounts(store)


def console() -> Console:
    """A console for tables: real width on a terminal, wide enough not to cut ids in pipes."""
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
