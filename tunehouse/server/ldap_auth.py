"""LDAP sign-in: users and their groups in an LDAP directory (OpenLDAP, Active Directory).

On when ``TUNEHOUSE_LDAP_URL`` is set (:class:`LdapConfig`, checked when the server
starts). A sign-in of a user whose ``source`` is ``ldap``, or of a name no user has yet
(:meth:`~tunehouse.server.accounts.SignIn.verify_password`), goes:

1. bind as the service account (``TUNEHOUSE_LDAP_BIND_DN``; anonymous without one), and
   search ``TUNEHOUSE_LDAP_USER_BASE`` with ``TUNEHOUSE_LDAP_USER_FILTER``, the name
   escaped into it: exactly one entry must match;
2. bind as that entry's DN with the given password, on a connection of its own;
3. read the user's groups with the service account: the entry's ``memberOf``, and with
   ``TUNEHOUSE_LDAP_GROUP_BASE`` the groups there naming the user in ``member`` or
   ``uniqueMember`` (its DN) or ``memberUid`` (its name);
4. create the tunehouse user on its first sign-in (``source`` ``ldap``, a password hash
   that matches nothing; named as the directory spells the filter's attribute, so
   ``ALICE`` signs in as ``alice``); a local user of that name is never taken over;
5. on every sign-in, set its admin flag from ``TUNEHOUSE_LDAP_ADMIN_GROUP`` (left alone
   without one) and sync the project roles ``TUNEHOUSE_LDAP_PROJECT_ROLES`` maps its
   groups to, through the store's ``roles`` area acting as :data:`GRANTOR`: a mapped role is granted (a higher role someone else granted stays),
   and a role the sync granted is revoked once the user is in no group mapped to that
   project. A mapped project that does not exist yet is skipped (logged, not created):
   its role is granted at the first sign-in after someone creates the project.

A wrong password, an unknown user and a name two entries match all answer the local
sign-in's 401 (no user enumeration). When the directory cannot be reached (down, a
timeout, a TLS failure) or refuses the service account, the sign-in answers 503 naming
the server; local users still sign in. Passwords are never logged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from tunehouse.errors import InvalidInput, NotFound, ServerUnavailable
from tunehouse.settings import Settings
from tunehouse.store.interfaces.roles import Role
from tunehouse.store.records import User, validate_project_name

if TYPE_CHECKING:
    from tunehouse.store.accounts import AccountStore

log = logging.getLogger("tunehouse.server.ldap")

USERNAME = "{username}"
_INVALID_CREDENTIALS = 49
#: Who the project roles of LDAP groups are granted by (``granted_by``, audit entries):
#: not a possible user name, so the sync tells its own grants from anyone else's.
GRANTOR = "ldap:sync"
#: ``(attr={username})`` in a user filter: ``attr`` holds the user's canonical name.
_NAME_ATTRIBUTE = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*\{username\}\s*\)")


@dataclass(frozen=True)
class RoleRule:
    """One entry ``GROUP=PROJECT:ROLE`` of ``TUNEHOUSE_LDAP_PROJECT_ROLES``."""

    group: str
    project: str
    role: str


def parse_project_roles(text: str | None) -> tuple[RoleRule, ...]:
    """The rules of ``GROUP=PROJECT:ROLE;GROUP2=PROJECT2:ROLE`` (GROUP a DN or a cn; the
    last ``=`` ends it, so DNs may be used). InvalidInput naming the bad entry."""
    rules = []
    for number, entry in enumerate((text or "").split(";"), start=1):
        if not entry.strip():
            continue
        left, _, role = entry.rpartition(":")
        group, _, project = left.rpartition("=")
        role, group, project = role.strip().lower(), group.strip(), project.strip()
        problem = ""
        if not group or not project:
            problem = "expected GROUP=PROJECT:ROLE"
        elif role not in Role.__members__:
            problem = f"the role must be viewer, editor or owner, not {role!r}"
        else:
            try:
                project = validate_project_name(project)
            except ValueError as exc:
                problem = str(exc)
        if problem:
            raise InvalidInput(f"TUNEHOUSE_LDAP_PROJECT_ROLES: entry {number} ({entry.strip()!r}): "
                               f"{problem}; e.g. 'vision-editors=vision:editor;"
                               "cn=admins,ou=groups,dc=example,dc=org=vision:owner'")
        rules.append(RoleRule(group=group, project=project, role=role))
    return tuple(rules)


def _problem(text: str) -> InvalidInput:
    return InvalidInput(f"LDAP sign-in settings: {text} (see docs/security.md)")


@dataclass(frozen=True)
class LdapConfig:
    """The checked LDAP settings (see the ``TUNEHOUSE_LDAP_*`` rows of README.md)."""

    url: str
    user_base: str
    user_filter: str = "(uid={username})"
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, repr=False)
    group_base: str | None = None
    admin_group: str | None = None
    project_roles: tuple[RoleRule, ...] = ()
    timeout_s: float = 5.0
    start_tls: bool = False
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LdapConfig | None:
        """The configuration, None when ``TUNEHOUSE_LDAP_URL`` is unset; InvalidInput
        naming the setting when one is wrong or missing."""
        if not settings.ldap_url:
            return None
        url = settings.ldap_url
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
            raise _problem(f"TUNEHOUSE_LDAP_URL must be ldap://host[:port] or "
                           f"ldaps://host[:port], not {url!r}")
        if settings.ldap_start_tls and parts.scheme.lower() == "ldaps":
            raise _problem("TUNEHOUSE_LDAP_START_TLS is for ldap:// URLs; ldaps:// is "
                           "encrypted already")
        if not settings.ldap_user_base:
            raise _problem("TUNEHOUSE_LDAP_USER_BASE must name the base DN of the users")
        user_filter = settings.ldap_user_filter.strip()
        if USERNAME not in user_filter or not (user_filter.startswith("(")
                                               and user_filter.endswith(")")):
            raise _problem(f"TUNEHOUSE_LDAP_USER_FILTER must be a parenthesized filter "
                           f"holding {USERNAME}, e.g. (uid={USERNAME}); got {user_filter!r}")
        password = settings.ldap_bind_password
        if settings.ldap_bind_password_file is not None:
            if password:
                raise _problem("set TUNEHOUSE_LDAP_BIND_PASSWORD or "
                               "TUNEHOUSE_LDAP_BIND_PASSWORD_FILE, not both")
            try:
                password = settings.ldap_bind_password_file.read_text().rstrip("\r\n")
            except OSError as exc:
                raise _problem(f"cannot read TUNEHOUSE_LDAP_BIND_PASSWORD_FILE "
                               f"{settings.ldap_bind_password_file}: {exc.strerror}") from None
        if bool(settings.ldap_bind_dn) != bool(password):
            raise _problem("TUNEHOUSE_LDAP_BIND_DN and its password (TUNEHOUSE_LDAP_BIND_"
                           "PASSWORD or _FILE) go together: set both, or neither for an "
                           "anonymous search")
        if not settings.ldap_timeout_s > 0:
            raise _problem("TUNEHOUSE_LDAP_TIMEOUT_S must be more than 0 seconds")
        ca_file = settings.ldap_ca_file
        if ca_file is not None and not ca_file.is_file():
            raise _problem(f"TUNEHOUSE_LDAP_CA_FILE {ca_file} is not a file")
        return cls(url=url, user_base=settings.ldap_user_base, user_filter=user_filter,
                   bind_dn=settings.ldap_bind_dn, bind_password=password,
                   group_base=settings.ldap_group_base, admin_group=settings.ldap_admin_group,
                   project_roles=parse_project_roles(settings.ldap_project_roles),
                   timeout_s=settings.ldap_timeout_s, start_tls=settings.ldap_start_tls,
                   ca_file=None if ca_file is None else str(ca_file))


def normalize_dn(dn: str) -> str:
    """``dn`` lower-cased, without the spaces around its separators, for comparisons."""
    try:
        return ",".join(f"{attr}={value}" for attr, value, _ in parse_dn(dn, strip=True)).lower()
    except LDAPInvalidDnError:
        return dn.strip().lower()


def _first_value(dn: str) -> str:
    """The value of the first RDN of ``dn`` (a group's cn), lower-cased."""
    try:
        return str(parse_dn(dn, strip=True)[0][1]).lower()
    except (LDAPInvalidDnError, IndexError):
        return ""


@dataclass(frozen=True)
class LdapIdentity:
    """A user the directory accepted: canonical name, DN and groups (DNs, normalized)."""

    name: str
    dn: str
    groups: frozenset[str]

    def in_group(self, group: str) -> bool:
        """Whether the user is in ``group``: a DN, or a cn (the first RDN's value)."""
        if "=" in group:
            return normalize_dn(group) in self.groups
        return group.strip().lower() in {_first_value(dn) for dn in self.groups}


def _values(entry: dict[str, Any], attribute: str) -> list[str]:
    """The values of ``attribute`` of a search result (names compared case-blind)."""
    for name, values in entry.get("raw_attributes", {}).items():
        if name.lower() == attribute.lower():
            return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                    for v in values]
    return []


def _close(conn: ldap3.Connection) -> None:
    """Unbind ``conn``, which may have failed already."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()


class LdapDirectory:
    """The directory of an :class:`LdapConfig`: one short connection per sign-in."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        match = _NAME_ATTRIBUTE.search(config.user_filter)
        self.name_attribute = match.group(1) if match else None
        self._tls = None
        if config.start_tls or urlsplit(config.url).scheme.lower() == "ldaps":
            self._tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file)
        #: ldap3 takes whole seconds for answers (and a search's time limit)
        self._wait_s = max(1, math.ceil(config.timeout_s))

    def unreachable(self, reason: str | Exception) -> ServerUnavailable:
        """The 503 of an outage, ``reason`` the error (ldap3's, unwrapped)."""
        if isinstance(reason, Exception):
            text = str(reason)
            while wrapped := re.fullmatch(r"\((['\"])(.*)\1,\)", text, re.DOTALL):
                text = wrapped.group(2)  # ldap3 words some errors as ('text',)
            reason = text or type(reason).__name__
        return ServerUnavailable(f"the LDAP server {self.config.url} cannot be reached: "
                                 f"{reason}; local accounts still work")

    def _server(self) -> ldap3.Server:
        """A new ldap3 server object: one keeps the failures of its addresses for seconds
        (and is not meant to be shared by threads), so each sign-in takes its own."""
        return ldap3.Server(self.config.url, connect_timeout=self.config.timeout_s,
                            get_info=ldap3.NONE, tls=self._tls)

    def _connect(self, server: ldap3.Server, dn: str | None,
                 password: str | None) -> tuple[ldap3.Connection, bool]:
        """An open connection bound as ``dn`` (anonymous when None) and whether the bind
        succeeded; ServerUnavailable when the server cannot be reached."""
        conn = ldap3.Connection(server, user=dn, password=password,
                                auto_bind=ldap3.AUTO_BIND_NONE, raise_exceptions=False,
                                receive_timeout=self._wait_s, read_only=True,
                                auto_referrals=False)
        try:
            conn.open()
            if self.config.start_tls and not conn.start_tls():
                raise self.unreachable(f"StartTLS failed: {conn.result.get('description')}")
            return conn, bool(conn.bind())
        except (LDAPException, OSError) as exc:
            _close(conn)
            raise self.unreachable(exc) from None

    def _search(self, conn: ldap3.Connection, base: str, search_filter: str,
                attributes: list[str], size_limit: int = 0,
                scope: str = ldap3.SUBTREE) -> list[dict[str, Any]]:
        try:
            conn.search(base, search_filter, search_scope=scope,
                        attributes=attributes, size_limit=size_limit,
                        time_limit=self._wait_s)
        except (LDAPException, OSError) as exc:
            raise self.unreachable(exc) from None
        result = conn.result or {}
        if result.get("result") not in (0, 4):  # success, sizeLimitExceeded
            log.warning("LDAP search under %s failed: %s %s", base, result.get("description"),
                        result.get("message"))
        return [e for e in conn.response or [] if e.get("type") == "searchResEntry"]

    def authenticate(self, username: str, password: str) -> LdapIdentity | None:
        """The identity of ``username`` when ``password`` is its directory password; None
        when not (or no single entry matches); ServerUnavailable on an outage."""
        if not username or not password:  # an empty password would be an anonymous bind
            return None
        config = self.config
        server = self._server()
        service, bound = self._connect(server, config.bind_dn, config.bind_password)
        try:
            if not bound:
                log.error("the LDAP service account %s cannot bind: %s", config.bind_dn,
                          service.result.get("description"))
                raise ServerUnavailable(
                    f"the LDAP server {config.url} refuses the service account "
                    f"{config.bind_dn or '(anonymous)'}: check TUNEHOUSE_LDAP_BIND_DN and its "
                    "password; local accounts still work")
            found = self._find_user(service, username)
            if found is None:
                return None
            dn, name = found
            user_conn, ok = self._connect(server, dn, password)
            _close(user_conn)
            if not ok:
                code = user_conn.result.get("result")
                if code != _INVALID_CREDENTIALS:
                    log.info("LDAP refused the bind of %s: %s", dn,
                             user_conn.result.get("description"))
                return None
            return LdapIdentity(name=name, dn=dn, groups=self._groups(service, dn, name))
        finally:
            _close(service)

    def _find_user(self, conn: ldap3.Connection, username: str) -> tuple[str, str] | None:
        """(DN, canonical name) of the one entry the user filter matches, else None."""
        search_filter = self.config.user_filter.replace(USERNAME,
                                                        escape_filter_chars(username))
        attributes = [self.name_attribute] if self.name_attribute else []
        entries = self._search(conn, self.config.user_base, search_filter, attributes,
                               size_limit=2)
        if len(entries) != 1:
            if entries:
                log.warning("LDAP sign-in of %r refused: %d entries match %s", username,
                            len(entries), search_filter)
            return None
        entry = entries[0]
        names = _values(entry, self.name_attribute) if self.name_attribute else []
        # the directory's name, so that ALICE and alice (or a mail address) are one user
        same = [n for n in names if n.lower() == username.lower()]
        name = same[0] if same else names[0] if len(names) == 1 else username
        return str(entry["dn"]), name

    def _groups(self, conn: ldap3.Connection, dn: str, name: str) -> frozenset[str]:
        """The normalized DNs of the groups of the user ``dn``."""
        groups: set[str] = set()
        for entry in self._search(conn, dn, "(objectClass=*)", ["memberOf"],
                                  scope=ldap3.BASE):
            groups.update(normalize_dn(group) for group in _values(entry, "memberOf"))
        if self.config.group_base:
            member = escape_filter_chars(dn)
            search_filter = (f"(|(member={member})(uniqueMember={member})"
                             f"(memberUid={escape_filter_chars(name)}))")
            for entry in self._search(conn, self.config.group_base, search_filter, ["cn"]):
                groups.add(normalize_dn(str(entry["dn"])))
        return frozenset(groups)


class LdapSignIn:
    """LDAP sign-in of the server (:class:`~tunehouse.server.accounts.SignIn` calls
    :meth:`sign_in`)."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self.directory = LdapDirectory(config)

    @classmethod
    def from_settings(cls, settings: Settings) -> LdapSignIn | None:
        """The sign-in ``settings`` configure, None when LDAP is off; InvalidInput naming
        the setting when one is wrong (the server does not start)."""
        config = LdapConfig.from_settings(settings)
        if config is None:
            return None
        log.info("LDAP sign-in on: %s, users under %s, %d project role rule(s)", config.url,
                 config.user_base, len(config.project_roles))
        return cls(config)

    def sign_in(self, accounts: AccountStore, username: str, password: str) -> User | None:
        """The tunehouse user of ``username`` when the directory accepts ``password``,
        created or updated (admin flag, project roles); None when refused."""
        identity = self.directory.authenticate(username, password)
        if identity is None:
            return None
        group = self.config.admin_group
        admin = identity.in_group(group) if group else None  # None: not managed by LDAP
        try:
            user = accounts.users.save_ldap_user(identity.name, admin=admin)
        except InvalidInput as exc:
            log.warning("LDAP user %r cannot be a tunehouse user: %s", identity.name,
                        exc.message)
            return None
        if user is None:
            log.warning("LDAP sign-in of %r refused: the tunehouse user of that name is "
                        "disabled or not an LDAP user", identity.name)
            return None
        self._sync_roles(accounts, identity, user)
        return user

    def roles_of(self, identity: LdapIdentity) -> dict[str, str]:
        """The highest role per project the mapping gives ``identity``'s groups."""
        roles: dict[str, str] = {}
        for rule in self.config.project_roles:
            if identity.in_group(rule.group):
                held = roles.get(rule.project)
                if held is None or Role[rule.role] > Role[held]:
                    roles[rule.project] = rule.role
        return roles

    def _sync_roles(self, accounts: AccountStore, identity: LdapIdentity, user: User) -> None:
        """Grant ``user`` the roles the mapping gives its groups, and take back those the
        sync granted (``granted_by`` :data:`GRANTOR`) on mapped projects whose groups it
        has left. A role granted by someone else is only ever raised, never lowered."""
        if not self.config.project_roles:
            return
        wanted = self.roles_of(identity)
        roles = accounts.with_user(GRANTOR).roles  # granted and audited by the sync
        for project in dict.fromkeys(rule.project for rule in self.config.project_roles):
            try:
                held = next((e for e in roles.list_access(project)
                             if e.user == user.name and e.inherited_from is None), None)
                role = wanted.get(project)
                ours = held is not None and held.granted_by == GRANTOR
                if role is not None and (held is None or (ours and held.role != role)
                                         or Role[held.role] < Role[role]):
                    roles.grant_role(project, user.name, role)
                    log.info("LDAP sync: %s is %s of project %r", user.name, role, project)
                elif role is None and ours:
                    roles.revoke_role(project, user.name)
                    log.info("LDAP sync: %s is no longer in a group with a role on project "
                             "%r: role revoked", user.name, project)
            except NotFound:
                log.info("LDAP role of %s on project %r skipped: no such project yet",
                         user.name, project)
