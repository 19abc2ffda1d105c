"""The audit log of the backend under test: the store writes audit entries for some
changes (model stage moves), but reading them is a server operation, not a store one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tunehouse.store.base import Store


@pytest.fixture
def audit_log(store: Store, store_kind: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An object with ``list_audit_events`` reading the audit log ``store`` writes to."""
    if store_kind == "http":
        from tunehouse.client.admin import AdminClient

        server = request.getfixturevalue("http_server")
        with AdminClient(server.url, server.access_key, server.secret_key) as admin:
            yield admin
    else:
        from tunehouse.server.accounts import Accounts

        yield Accounts.of(store)  # type: ignore[arg-type]
