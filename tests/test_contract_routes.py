"""The four places an operation is written agree: the area interface, the SQL store, the
HTTP client and the server's route, all tied together by :mod:`tunehouse.contract`.

Fails when a method of a store or account interface reachable over HTTP lacks its entry
in ``ROUTES``, its route in the server app (right method, right path, a function of the
same name), its implementation in the SQL or HTTP store, or when the HTTP client does not
call the operation of its name; and when a store-only operation of the accounts (checking
a password, a key or a session, counting failures, writing audit entries) has a route.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunehouse.client import accounts as http_accounts
from tunehouse.client import areas as http_areas
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.contract import API_PREFIX, ROUTES, Route
from tunehouse.settings import Settings
from tunehouse.store.interfaces import ACCOUNT_AREAS, ACCOUNT_STORE_AREAS, AREAS
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore

HTTP_AREAS = {"tasks": http_areas.HttpTaskStore, "events": http_areas.HttpEventStore,
              "artifacts": http_areas.HttpArtifactStore, "models": http_areas.HttpModelStore,
              "queues": http_areas.HttpQueueStore, "users": http_accounts.HttpUsers,
              "keys": http_accounts.HttpApiKeys, "roles": http_accounts.HttpProjectRoles,
              "audit": http_accounts.HttpAuditLog, "preferences": http_accounts.HttpPreferences,
              "throttle": http_accounts.HttpLockouts}
#: The operations of the server alone (no store area): signing in and out.
SERVER_OPERATIONS = {"server.health", "server.login", "server.logout", "server.whoami"}


def _abstract(interface: type) -> set[str]:
    return set(getattr(interface, "__abstractmethods__", ()))


def interface_operations() -> list[tuple[str, str]]:
    """``(area, method)`` for every abstract method of every interface reachable over HTTP:
    the store's areas and the accounts' (:data:`ACCOUNT_AREAS`)."""
    return [(area, name) for area, interface in {**AREAS, **ACCOUNT_AREAS}.items()
            for name in sorted(_abstract(interface))]


def store_only_operations() -> list[tuple[str, str]]:
    """``(area, method)`` of the accounts' store-only operations: those of the database's
    interfaces (:data:`ACCOUNT_STORE_AREAS`) beyond what is reachable over HTTP."""
    return [(area, name) for area, interface in ACCOUNT_STORE_AREAS.items()
            for name in sorted(_abstract(interface)
                               - _abstract(ACCOUNT_AREAS.get(area, object)))]


@dataclass(frozen=True)
class Served:
    """One operation of the server's OpenAPI document."""

    path: str
    method: str


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Served]:
    """The server's operations by operationId (which the app sets to the route's name)."""
    from tunehouse.server.app import create_app

    home: Path = tmp_path_factory.mktemp("contract-home")
    doc = create_app(Settings.from_env(env={}, home=home)).openapi()
    served: dict[str, Served] = {}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            name = operation["operationId"]
            assert name not in served, f"two routes named {name}"
            served[name] = Served(path, method.upper())
    return served


def test_every_interface_method_is_in_the_contract() -> None:
    missing = [f"{area}.{name}" for area, name in interface_operations()
               if f"{area}.{name}" not in ROUTES]
    assert not missing, f"operations without a route in tunehouse.contract.ROUTES: {missing}"


def test_every_store_operation_in_the_contract_belongs_to_an_interface() -> None:
    known = {f"{area}.{name}" for area, name in interface_operations()}
    extra = [name for name in ROUTES if name not in SERVER_OPERATIONS and name not in known]
    assert not extra, f"ROUTES names operations no interface declares: {extra}"


@pytest.mark.parametrize(("area", "method"), store_only_operations())
def test_store_only_operations_have_no_route(area: str, method: str,
                                             app_routes: dict[str, Served]) -> None:
    assert f"{area}.{method}" not in ROUTES
    assert not [name for name in app_routes if name.endswith(f".{method}")], (
        f"{area}.{method} is store-only but the server has a route of that name")
    docstring = getattr(ACCOUNT_STORE_AREAS[area], method).__doc__ or ""
    assert docstring.startswith("Store-only."), (
        f"the docstring of {area}.{method} does not say it is store-only")


def test_store_only_operations_are_the_expected_ones() -> None:
    assert {f"{area}.{name}" for area, name in store_only_operations()} >= {
        "users.verify_password", "keys.authenticate_key", "sessions.check_session",
        "throttle.count_failure", "audit.record"}


@pytest.mark.parametrize("operation", sorted(ROUTES))
def test_the_server_serves_each_operation_where_the_contract_says(
        operation: str, app_routes: dict[str, Served]) -> None:
    spec: Route = ROUTES[operation]
    served = app_routes.get(operation)
    assert served is not None, f"the server has no route for {operation}"
    assert served.path == API_PREFIX + spec.path.replace(":path}", "}")
    assert served.method == spec.method
    # (tunehouse.server.api._deps.operation checks that the function has the method's name)


def test_no_route_outside_the_contract(app_routes: dict[str, Served]) -> None:
    assert set(app_routes) == set(ROUTES)


@pytest.mark.parametrize(("area", "method"), interface_operations())
def test_both_stores_implement_each_operation(area: str, method: str) -> None:
    for store_class in (SqlStore, HttpStore, SqlAccountStore, HttpAccounts):
        assert not inspect.isabstract(store_class), store_class
    http_class = HTTP_AREAS[area]
    assert not inspect.isabstract(http_class), f"{http_class.__name__} lacks methods"
    source = inspect.getsource(getattr(http_class, method))
    assert f'"{area}.{method}"' in source, (
        f"{http_class.__name__}.{method} does not call operation {area}.{method}")


def test_sql_store_areas_implement_their_interfaces(tmp_path: Path) -> None:
    from tunehouse.server.accounts import ARGON2

    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "blobs") as store:
        for area, interface in AREAS.items():
            assert isinstance(getattr(store, area), interface)
            assert not inspect.isabstract(type(getattr(store, area)))
        accounts = SqlAccountStore.of(store, ARGON2)
        for area, interface in ACCOUNT_STORE_AREAS.items():
            assert isinstance(getattr(accounts, area), interface)
            assert not inspect.isabstract(type(getattr(accounts, area)))


def test_http_accounts_reach_no_store_only_area() -> None:
    accounts = HttpAccounts("http://127.0.0.1:9", "THKEY", "secret")  # never called
    for area, interface in ACCOUNT_AREAS.items():
        found = getattr(accounts, area)
        assert isinstance(found, interface)
        if ACCOUNT_STORE_AREAS[area] is not interface:
            assert not isinstance(found, ACCOUNT_STORE_AREAS[area]), area
    assert not hasattr(accounts, "sessions")
    accounts.close()


def test_paths_fill_and_escape() -> None:
    assert ROUTES["tasks.get_task"].url(task_id="a/b") == "/tasks/a%2Fb"
    assert ROUTES["tasks.get_project"].url(name_or_id="team/x y") == "/projects/team/x%20y"
    assert ROUTES["queues.list_queue_entries"].params == ["queue"]
