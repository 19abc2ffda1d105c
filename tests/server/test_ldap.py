"""LDAP sign-in against a real OpenLDAP slapd (tests/server/ldap_server.py).

The accounts are tested in-process on a fresh SQLite store each (fast, every case); a real
server configured by ``config.json`` checks the HTTP side: the JSON login, the web form,
503 on an outage while local users still sign in, start-up validation, no secret in
the log.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.helpers.server import ServerProcess, free_port, running_server
from tests.server.ldap_server import (
    GROUPS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    USERS,
    SlapdProcess,
    password_of,
    running_slapd,
    slapd_missing,
)
from tunehouse.errors import AuthenticationFailed, InvalidInput, ServerUnavailable
from tunehouse.server.accounts import SignIn, open_accounts
from tunehouse.server.ldap_auth import (
    GRANTOR,
    LdapConfig,
    LdapDirectory,
    LdapSignIn,
    RoleRule,
    parse_project_roles,
)
from tunehouse.server.permissions import Permissions, Role
from tunehouse.settings import Settings
from tunehouse.store import schema as t
from tunehouse.store.interfaces.users import LDAP_PASSWORD_HASH
from tunehouse.store.sql import SqlStore
from tunehouse.store.sql.accounts import SqlAccountStore

pytestmark = pytest.mark.skipif(bool(slapd_missing()), reason=slapd_missing() or "slapd")

BAD = "invalid user name or password"
MAPPING = ("vision-editors=vision:editor;ml-readers=ml:viewer;nlp=nlp:owner;"
           f"cn=gpu-users,{GROUPS}=gpu:editor")


def ldap_settings(url: str, **changes: Any) -> dict[str, Any]:
    """The settings (by name, as in config.json) of a server signing in on ``url``."""
    values = {"ldap_url": url, "ldap_bind_dn": SERVICE_DN,
              "ldap_bind_password": SERVICE_PASSWORD, "ldap_user_base": PEOPLE,
              "ldap_group_base": GROUPS, "ldap_admin_group": "admins",
              "ldap_project_roles": MAPPING, "ldap_timeout_s": 3}
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def config_for(url: str, **changes: Any) -> LdapConfig:
    """The checked configuration of ``ldap_settings``, read from environment variables."""
    env = {"TUNEHOUSE_" + name.upper(): str(value)
           for name, value in ldap_settings(url, **changes).items()}
    config = LdapConfig.from_settings(Settings.from_env(env, home="/nonexistent"))
    assert config is not None
    return config


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdProcess]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as process:
        yield process


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with SqlStore(f"sqlite:///{tmp_path / 'tunehouse.db'}", tmp_path / "artifacts",
                  user="server") as opened:
        yield opened


@pytest.fixture
def accounts(store: SqlStore) -> SqlAccountStore:
    """The accounts of a fresh database."""
    return open_accounts(store)


@pytest.fixture
def signin(accounts: SqlAccountStore, slapd: SlapdProcess) -> SignIn:
    """Password sign-in on ``accounts`` with LDAP sign-in on ``slapd``."""
    return SignIn(accounts, LdapSignIn(config_for(slapd.url)))


def _refused(signin: SignIn, name: str, password: str) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        signin.verify_password(name, password)
    return caught.value.message


def _explicit_role(store: SqlStore, project: str, user: str) -> tuple[str, str | None] | None:
    for entry in open_accounts(store).roles.list_access(project):
        if entry.user == user and entry.inherited_from is None:
            return entry.role, entry.granted_by
    return None


# ------------------------------------------------------------------ accounts, in-process
def test_first_sign_in_creates_an_ldap_user_with_no_local_password(
        signin: SignIn, accounts: SqlAccountStore, store: SqlStore) -> None:
    user = signin.verify_password("alice", password_of("alice"))
    assert (user.name, user.source, user.admin, user.disabled) == ("alice", "ldap", False, False)
    again = SignIn(accounts.with_context(client="10.0.0.1"), signin.ldap)
    assert again.verify_password("ALICE", password_of("alice")).name == "alice"
    [login] = accounts.audit.list_audit_events(action="auth.login", limit=1)
    assert (login.user, login.client, login.details) == ("alice", "10.0.0.1",
                                                         {"source": "ldap"})
    assert [u.name for u in accounts.users.list_users()] == ["alice"]
    with store.db.engine.connect() as conn:
        stored = conn.execute(sa.select(t.users.c.password_hash)).scalar_one()
    assert stored == LDAP_PASSWORD_HASH
    signin.ldap = None  # LDAP off: its users cannot sign in, whatever they send
    for password in (password_of("alice"), LDAP_PASSWORD_HASH, ""):
        assert _refused(signin, "alice", password) == BAD


def test_wrong_password_unknown_user_and_filter_injection_are_the_usual_401(
        signin: SignIn) -> None:
    signin.accounts.users.create_user("local-user", "local-pw")
    local = _refused(signin, "local-user", "wrong")
    for name, password in [("alice", "wrong"), ("alice", ""), ("nobody", "x"),
                           ("al*", password_of("alice")), ("*", password_of("alice")),
                           ("alice)(uid=*", password_of("alice")),
                           ("bob", password_of("alice"))]:
        assert _refused(signin, name, password) == local == BAD, name
    assert [u.name for u in signin.accounts.users.list_users()] == ["local-user"]


def test_local_users_are_checked_locally_and_never_taken_over(signin: SignIn) -> None:
    signin.accounts.users.create_user("dave", "local-dave")
    assert _refused(signin, "dave", password_of("dave")) == BAD  # the LDAP password
    assert signin.verify_password("dave", "local-dave").source == "local"
    assert _refused(signin, "DAVE", password_of("dave")) == BAD  # LDAP's dave is local dave


def test_admin_flag_follows_the_admin_group(signin: SignIn, slapd: SlapdProcess) -> None:
    assert signin.verify_password("bob", password_of("bob")).admin is True
    assert signin.verify_password("frank", password_of("frank")).admin is False
    try:
        slapd.set_members("admins", ["bob", "frank"])
        assert signin.verify_password("frank", password_of("frank")).admin is True
    finally:
        slapd.set_members("admins", ["bob"])
    assert signin.verify_password("frank", password_of("frank")).admin is False
    events = signin.accounts.audit.list_audit_events(target_id="frank")
    assert {e.action for e in events} >= {"user.create", "user.update"}


def test_groups_give_project_roles(signin: SignIn, accounts: SqlAccountStore,
                                   store: SqlStore, slapd: SlapdProcess) -> None:
    store.tasks.get_or_create_project("vision")
    store.tasks.get_or_create_project("ml")
    alice = signin.verify_password("alice", password_of("alice"))  # no project nlp: skipped
    permissions = Permissions(accounts, default_role=None)
    assert permissions.role_of(alice, "vision") is Role.editor
    assert permissions.role_of(alice, "ml") is Role.viewer
    assert _explicit_role(store, "vision", "alice") == ("editor", GRANTOR)
    carol = signin.verify_password("carol", password_of("carol"))  # nlp by memberUid
    assert permissions.role_of(carol, "vision") is None
    store.tasks.get_or_create_project("nlp")
    signin.verify_password("carol", password_of("carol"))
    assert permissions.role_of(carol, "nlp") is Role.owner
    # a role granted by an owner is raised by the mapping, never lowered
    accounts.users.create_user("root", "root-pw", admin=True)
    accounts.with_user("root").roles.grant_role("ml", "alice", "owner")
    signin.verify_password("alice", password_of("alice"))
    assert _explicit_role(store, "ml", "alice") == ("owner", "root")
    # leaving the group takes back the role the sync granted
    store.tasks.get_or_create_project("gpu")
    slapd.add_group("gpu-users", ["grace"])
    try:
        grace = signin.verify_password("grace", password_of("grace"))
        assert permissions.role_of(grace, "gpu") is Role.editor
    finally:
        slapd.delete_group("gpu-users")
    signin.verify_password("grace", password_of("grace"))
    assert _explicit_role(store, "gpu", "grace") is None
    events = accounts.audit.list_audit_events(target_type="project", limit=50)
    assert {e.action for e in events} >= {"role.grant", "role.revoke"}


def test_a_disabled_ldap_user_stays_refused(signin: SignIn) -> None:
    signin.verify_password("erin", password_of("erin"))
    signin.accounts.users.set_user_disabled("erin", True)
    assert _refused(signin, "erin", password_of("erin")) == BAD
    signin.accounts.users.set_user_disabled("erin", False)
    assert signin.verify_password("erin", password_of("erin")).name == "erin"


def test_an_outage_is_503_and_local_users_still_sign_in(accounts: SqlAccountStore) -> None:
    accounts.users.create_user("local-user", "local-pw")
    closed = f"ldap://127.0.0.1:{free_port()}"
    signin = SignIn(accounts, LdapSignIn(config_for(closed)))
    with pytest.raises(ServerUnavailable) as caught:
        signin.verify_password("alice", password_of("alice"))
    assert caught.value.status == 503
    assert caught.value.message.startswith(f"the LDAP server {closed} cannot be reached: ")
    assert caught.value.message.endswith("; local accounts still work")
    assert signin.verify_password("local-user", "local-pw").name == "local-user"
    # a server that takes the connection but never answers: the timeout
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        signin.ldap = LdapSignIn(config_for(url, ldap_timeout_s=0.5))
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match="cannot be reached"):
            signin.verify_password("alice", password_of("alice"))
        assert time.monotonic() - started < 5


def test_a_refused_service_account_is_503(accounts: SqlAccountStore,
                                         slapd: SlapdProcess) -> None:
    signin = SignIn(accounts, LdapSignIn(config_for(slapd.url, ldap_bind_password="wrong")))
    with pytest.raises(ServerUnavailable, match="refuses the service account"):
        signin.verify_password("alice", password_of("alice"))


def test_start_tls_and_ldaps_verify_the_certificate(accounts: SqlAccountStore,
                                                    slapd: SlapdProcess) -> None:
    if slapd.ca_file is None or slapd.ldaps_url is None:
        pytest.skip("openssl is not installed: slapd serves no TLS")
    signin = SignIn(accounts)
    for url, tls in [(slapd.url, {"ldap_start_tls": "true"}), (slapd.ldaps_url, {})]:
        signin.ldap = LdapSignIn(config_for(url, ldap_ca_file=str(slapd.ca_file), **tls))
        assert signin.verify_password("alice", password_of("alice")).name == "alice"
        signin.ldap = LdapSignIn(config_for(url, **tls))  # the system's CAs
        with pytest.raises(ServerUnavailable, match="cannot be reached: .*certif"):
            signin.verify_password("alice", password_of("alice"))


def test_groups_come_from_member_of_and_the_group_base(slapd: SlapdProcess) -> None:
    def groups(user: str, **changes: Any) -> set[str]:
        found = LdapDirectory(config_for(slapd.url, **changes)).authenticate(
            user, password_of(user))
        assert found is not None and found.dn == f"uid={user},{PEOPLE}"
        return {dn.split(",")[0] for dn in found.groups}

    # ml-readers was added over LDAP, so it alone is in memberOf
    assert groups("alice", ldap_group_base=None) == {"cn=ml-readers"}
    assert groups("alice") == {"cn=ml-readers", "cn=vision-editors"}
    assert groups("carol") == {"cn=ml-readers", "cn=nlp"}  # posixGroup memberUid
    assert groups("bob") == {"cn=admins"}
    anonymous = LdapDirectory(config_for(slapd.url, ldap_bind_dn=None, ldap_bind_password=None))
    assert anonymous.authenticate("alice", password_of("alice")) is None  # may not search


# ------------------------------------------------------------------ settings
def test_project_roles_mapping_is_parsed_and_checked() -> None:
    assert parse_project_roles(MAPPING + ";") == (
        RoleRule("vision-editors", "vision", "editor"), RoleRule("ml-readers", "ml", "viewer"),
        RoleRule("nlp", "nlp", "owner"), RoleRule(f"cn=gpu-users,{GROUPS}", "gpu", "editor"))
    assert parse_project_roles(" a = team / x : Owner ") == (RoleRule("a", "team/x", "owner"),)
    for bad, says in [("vision-editors=vision", "entry 1"), ("g=p:admin", "viewer, editor"),
                      ("ok=p:viewer;=p:viewer", "entry 2"), ("g=a//b:viewer", "non-empty")]:
        with pytest.raises(InvalidInput, match="TUNEHOUSE_LDAP_PROJECT_ROLES") as caught:
            parse_project_roles(bad)
        assert says in caught.value.message


@pytest.mark.parametrize(("changes", "says"), [
    ({"ldap_url": "http://ldap"}, "TUNEHOUSE_LDAP_URL"),
    ({"ldap_user_base": None}, "TUNEHOUSE_LDAP_USER_BASE"),
    ({"ldap_user_filter": "uid={username}"}, "TUNEHOUSE_LDAP_USER_FILTER"),
    ({"ldap_user_filter": "(uid=alice)"}, "TUNEHOUSE_LDAP_USER_FILTER"),
    ({"ldap_bind_password": None}, "TUNEHOUSE_LDAP_BIND_DN"),
    ({"ldap_start_tls": "yes", "ldap_url": "ldaps://ldap"}, "TUNEHOUSE_LDAP_START_TLS"),
    ({"ldap_start_tls": "maybe"}, "TUNEHOUSE_LDAP_START_TLS"),
    ({"ldap_timeout_s": "0"}, "TUNEHOUSE_LDAP_TIMEOUT_S"),
    ({"ldap_timeout_s": "soon"}, "TUNEHOUSE_LDAP_TIMEOUT_S"),
    ({"ldap_ca_file": "/nonexistent/ca.pem"}, "TUNEHOUSE_LDAP_CA_FILE"),
    ({"ldap_bind_password_file": "/nonexistent/pw"}, "TUNEHOUSE_LDAP_BIND_PASSWORD_FILE"),
    ({"ldap_project_roles": "g=p:boss"}, "TUNEHOUSE_LDAP_PROJECT_ROLES"),
])
def test_wrong_settings_name_the_setting(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        config_for("ldap://ldap.example.org", **changes)


def test_the_bind_password_comes_from_a_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "bind-password"
    secret.write_text("from-a-file\n")
    config = config_for("ldaps://ldap.example.org", ldap_bind_password=None,
                        ldap_bind_password_file=str(secret), ldap_start_tls="false")
    assert config.bind_password == "from-a-file"
    assert "from-a-file" not in repr(config)
    settings = Settings.from_env({"TUNEHOUSE_LDAP_BIND_PASSWORD": "s3cret"}, home="/nonexistent")
    assert "s3cret" not in repr(settings) and LdapConfig.from_settings(settings) is None
    with pytest.raises(InvalidInput, match="not both"):
        config_for("ldap://ldap", ldap_bind_password_file=str(secret))


# ------------------------------------------------------------------ a real server
@pytest.fixture(scope="module")
def ldap_server(slapd: SlapdProcess,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A tunehouse server signing in on ``slapd`` (settings in its config.json)."""
    home = tmp_path_factory.mktemp("ldap-server") / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps(ldap_settings(slapd.url)))
    with running_server(home) as server:
        yield server


def _login(server: ServerProcess, user: str, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1/auth/login",
                      json={"username": user, "password": password}, timeout=30)


def _form_login(client: httpx.Client, user: str, password: str) -> httpx.Response:
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text)
    assert token
    return client.post("/login", data={"username": user, "password": password,
                                       "login_token": token.group(1), "next": "/"})


def test_sign_in_through_the_api_and_the_form(ldap_server: ServerProcess) -> None:
    answer = _login(ldap_server, "alice", password_of("alice"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "ldap" and answer.json()["admin"] is False
    me = httpx.get(f"{ldap_server.url}/api/v1/auth/me", cookies=answer.cookies)
    assert me.json()["name"] == "alice"
    bob = _login(ldap_server, "bob", password_of("bob"))
    assert bob.json()["admin"] is True
    users = httpx.get(f"{ldap_server.url}/api/v1/users", cookies=bob.cookies)
    assert users.status_code == 200
    assert {u["name"]: u["source"] for u in users.json()}.items() >= {
        ("alice", "ldap"), ("bob", "ldap")}
    for user, password in [("alice", "wrong"), ("nobody", "x")]:
        refused = _login(ldap_server, user, password)
        assert refused.status_code == 401
        assert refused.json()["error"] == {"code": "unauthenticated", "message": BAD}
    with httpx.Client(base_url=ldap_server.url, timeout=30) as browser:
        assert _form_login(browser, "erin", "wrong").status_code == 401
        assert _form_login(browser, "erin", password_of("erin")).status_code == 303
        assert "tunehouse_session" in browser.cookies


def test_project_role_and_disabled_user_through_the_server(ldap_server: ServerProcess) -> None:
    with httpx.Client(base_url=f"{ldap_server.url}/api/v1", timeout=30,
                      auth=(ldap_server.access_key, ldap_server.secret_key)) as admin:
        assert admin.post("/projects", json={"name": "vision"}).status_code in (200, 201)
        assert _login(ldap_server, "alice", password_of("alice")).status_code == 200
        with SqlStore(f"sqlite:///{ldap_server.home / 'tunehouse.db'}",
                      ldap_server.home / "artifacts", user="test") as store:
            permissions = Permissions(open_accounts(store))
            alice = permissions.get_user("alice")
            assert permissions.role_of(alice, "vision") is Role.editor
        assert _login(ldap_server, "carol", password_of("carol")).status_code == 200
        assert admin.patch("/users/carol", json={"disabled": True}).status_code == 200
        refused = _login(ldap_server, "carol", password_of("carol"))
        assert refused.status_code == 401 and refused.json()["error"]["message"] == BAD


def test_an_outage_is_503_naming_the_server_and_local_users_sign_in(
        ldap_server: ServerProcess, slapd: SlapdProcess) -> None:
    slapd.stop()
    try:
        answer = _login(ldap_server, "alice", password_of("alice"))
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "unavailable"
        assert error["message"].startswith(f"the LDAP server {slapd.url} cannot be reached: ")
        assert "local accounts still work" in error["message"]
        local = _login(ldap_server, ldap_server.admin_user, ldap_server.admin_password)
        assert local.status_code == 200 and local.json()["source"] == "local"
        with httpx.Client(base_url=ldap_server.url, timeout=30) as browser:
            page = _form_login(browser, "alice", password_of("alice"))
            assert page.status_code == 503
            assert f"the LDAP server {slapd.url} cannot be reached" in page.text
            assert _form_login(browser, ldap_server.admin_user,
                               ldap_server.admin_password).status_code == 303
    finally:
        slapd.start()
    assert _login(ldap_server, "alice", password_of("alice")).status_code == 200


def test_the_server_does_not_start_with_wrong_ldap_settings(store: SqlStore,
                                                            tmp_path: Path) -> None:
    from tunehouse.server.app import create_app

    env = {"TUNEHOUSE_LDAP_URL": "ldap://127.0.0.1:1", "TUNEHOUSE_LDAP_USER_BASE": PEOPLE,
           "TUNEHOUSE_LDAP_PROJECT_ROLES": "vision-editors=vision:boss"}
    with pytest.raises(InvalidInput, match="TUNEHOUSE_LDAP_PROJECT_ROLES: entry 1"):
        create_app(Settings.from_env(env, home=str(tmp_path / "home")), store=store)


def test_no_password_is_logged(ldap_server: ServerProcess) -> None:
    _login(ldap_server, "alice", "a-wrong-password")
    log = ldap_server.log()
    for secret in [SERVICE_PASSWORD, "a-wrong-password", *map(password_of, USERS)]:
        assert secret not in log
