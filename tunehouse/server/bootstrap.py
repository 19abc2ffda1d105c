"""First start of a server: create the admin account when the database has no users."""

from __future__ import annotations

import secrets
from pathlib import Path

from tunehouse.errors import Conflict
from tunehouse.settings import write_credentials
from tunehouse.store.accounts import Accounts

ADMIN_USER = "admin"


def bootstrap_admin(accounts: Accounts, home: Path, server_url: str) -> Path | None:
    """Create user ``admin`` with a random password and an API key when no user exists.

    Both secrets go to ``<home>/credentials.json`` (mode 0600) together with
    ``server_url``; the SDK and CLI read that file when ``TUNEHOUSE_SERVER`` is set.
    When several processes start at once on one database only one creates the admin
    (the others get a Conflict and leave everything as it is).

    Returns:
        The credentials file written, or ``None`` when users already existed.
    """
    if accounts.users.list_users():
        return None
    password = secrets.token_urlsafe(18)
    try:
        accounts.users.create_user(ADMIN_USER, password, admin=True)
    except Conflict:
        return None
    key = accounts.keys.create_api_key(ADMIN_USER, description="created on first start")
    return write_credentials(home, {
        "server": server_url,
        "user": ADMIN_USER,
        "password": password,
        "access_key": key.access_key,
        "secret_key": key.secret_key,
    })
