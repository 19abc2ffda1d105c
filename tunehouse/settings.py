"""The one settings object of tunehouse.

Every setting has a name, a default, a help text and an environment variable; the table
in README.md lists them all (a test checks that it does). Settings are read once, when a
component starts (``Settings.from_env()``), and passed down explicitly: nothing reads
``os.environ`` mid-run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunehouse.contract import API_PREFIX
from tunehouse.errors import InvalidInput


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its name, environment variable, default and help.

    ``default`` is the value itself, a function of the data directory (for the defaults
    that live inside it), or None for "unset"; ``shown`` is how the default reads in the
    documentation when the value alone would not say it.
    """

    name: str
    env: str
    default: Any
    help: str
    shown: str = ""

    def default_for(self, home: Path) -> Any:
        return self.default(home) if callable(self.default) else self.default

    @property
    def default_text(self) -> str:
        return self.shown or str(self.default)


DEFAULT_HOME = "~/.tunehouse"

SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("home", "TUNEHOUSE_HOME", DEFAULT_HOME,
                "Data directory: embedded SQLite database, artifacts, credentials, spool."),
    SettingSpec("db", "TUNEHOUSE_DB", lambda home: f"sqlite:///{home / 'tunehouse.db'}",
                "SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db.",
                shown="sqlite:///$TUNEHOUSE_HOME/tunehouse.db"),
    SettingSpec("artifacts", "TUNEHOUSE_ARTIFACTS", lambda home: home / "artifacts",
                "Where the content-addressed artifact store keeps blobs: a directory, or s3://BUCKET/PREFIX for S3-compatible object storage (needs the s3 extra: pip install tunehouse[s3]).",
                shown="$TUNEHOUSE_HOME/artifacts"),
    # S3-compatible artifact storage (tunehouse.store.s3_blob_storage; docs/server.md)
    SettingSpec("s3_endpoint_url", "TUNEHOUSE_S3_ENDPOINT_URL", None,
                "Endpoint of the S3-compatible store of TUNEHOUSE_ARTIFACTS=s3://..., e.g. https://minio.internal:9000 (clients download and upload there directly, so it must be reachable from them).",
                shown="unset: AWS S3"),
    SettingSpec("s3_region", "TUNEHOUSE_S3_REGION", None,
                "Region of the bucket.", shown="unset: AWS's configuration"),
    SettingSpec("s3_access_key_id", "TUNEHOUSE_S3_ACCESS_KEY_ID", None,
                "Access key id for the bucket; with TUNEHOUSE_S3_SECRET_ACCESS_KEY.",
                shown="unset: AWS's credential chain"),
    SettingSpec("s3_secret_access_key", "TUNEHOUSE_S3_SECRET_ACCESS_KEY", None,
                "Secret of TUNEHOUSE_S3_ACCESS_KEY_ID (never logged).",
                shown="unset: AWS's credential chain"),
    SettingSpec("s3_part_mb", "TUNEHOUSE_S3_PART_MB", 64,
                "Part size in MiB of multipart uploads to S3 (at least 5); blobs smaller than one part are uploaded through the server."),
    SettingSpec("server", "TUNEHOUSE_SERVER", None,
                "URL of a tracking server; when set the SDK, CLI and agents talk HTTP to it.",
                shown="unset: embedded mode"),
    SettingSpec("access_key", "TUNEHOUSE_ACCESS_KEY", None,
                "API access key used with a server.", shown="from the credentials file"),
    SettingSpec("secret_key", "TUNEHOUSE_SECRET_KEY", None,
                "API secret used with a server.", shown="from the credentials file"),
    SettingSpec("task_id", "TUNEHOUSE_TASK_ID", None,
                "Set by the agent: Task.init attaches to this existing task.", shown="unset"),
    SettingSpec("task_attempt", "TUNEHOUSE_TASK_ATTEMPT", None,
                "Set by the agent: the attempt of TUNEHOUSE_TASK_ID this process runs; the server refuses its writes once that attempt is over, and the agent, not the process, sets the task's final status.",
                shown="unset"),
    SettingSpec("act_as", "TUNEHOUSE_ACT_AS", None,
                "Set by the agent without a server: the user (the task's owner) the task writes as in the embedded database.",
                shown="unset"),
    SettingSpec("host", "TUNEHOUSE_HOST", "127.0.0.1", "Address the server listens on."),
    SettingSpec("port", "TUNEHOUSE_PORT", 8420, "Port the server listens on."),
    SettingSpec("max_request_mb", "TUNEHOUSE_MAX_REQUEST_MB", 64,
                "Largest JSON request body the server accepts, in MiB (artifact uploads stream and are not limited by it)."),
    SettingSpec("task_lost_after_s", "TUNEHOUSE_TASK_LOST_AFTER", 300,
                "Seconds without a sign of life after which the server's watchdog fails a running task (not under an agent) as \"process lost\"."),
    SettingSpec("worker_lost_retries", "TUNEHOUSE_WORKER_LOST_RETRIES", 2,
                "How many times the server's watchdog puts a task back in its queue when its agent is lost (lease expired) before failing it; a task's own max_retries counts when higher."),
    SettingSpec("clearml_lease_s", "TUNEHOUSE_CLEARML_LEASE_S", 120,
                "Seconds a task pulled by clearml-agent stays its own without a status report of that agent (it reports every 30 s by default) before the watchdog puts it back in its queue."),
    # web sessions and brute-force protection (tunehouse.server.sessions, .throttle)
    SettingSpec("session_max_s", "TUNEHOUSE_SESSION_MAX_S", 12 * 3600,
                "Seconds a web session lasts at most after signing in (absolute timeout)."),
    SettingSpec("session_idle_s", "TUNEHOUSE_SESSION_IDLE_S", 2 * 3600,
                "Seconds without a request after which a web session ends (idle timeout)."),
    SettingSpec("login_delay_after", "TUNEHOUSE_LOGIN_DELAY_AFTER", 5,
                "Failed sign-ins (or API-key checks) per user, key or client address after which each further attempt must wait 1 s, 2 s, 4 s, ... (at most 60 s) after the last failure, else 429."),
    SettingSpec("login_lockout_after", "TUNEHOUSE_LOGIN_LOCKOUT_AFTER", 20,
                "Failed sign-ins (or API-key checks) per user, key or client address within 15 minutes that lock it for TUNEHOUSE_LOGIN_LOCKOUT_S."),
    SettingSpec("login_lockout_s", "TUNEHOUSE_LOGIN_LOCKOUT_S", 900,
                "Seconds a locked user, key or client address is refused (429), even with the right password; an admin may unlock it earlier."),
    SettingSpec("init_timeout_s", "TUNEHOUSE_INIT_TIMEOUT", 30,
                "Seconds Task.init keeps retrying an unreachable server before the run goes on offline."),
    SettingSpec("offline_spool", "TUNEHOUSE_SPOOL", lambda home: home / "spool",
                "Where the SDK spools reports while the server is unreachable.",
                shown="$TUNEHOUSE_HOME/spool"),
    SettingSpec("default_project_role", "TUNEHOUSE_DEFAULT_PROJECT_ROLE", "viewer",
                "Role on a project of a server user with no role of their own there (granted, inherited or as its creator): viewer, editor or none (none: users see only the projects they were given; docs/security.md)."),
    # LDAP sign-in (tunehouse.server.ldap_auth; docs/security.md)
    SettingSpec("ldap_url", "TUNEHOUSE_LDAP_URL", None,
                "LDAP server of the sign-in, ldap://host:389 or ldaps://host:636; unset: LDAP sign-in off.",
                shown="unset: LDAP off"),
    SettingSpec("ldap_bind_dn", "TUNEHOUSE_LDAP_BIND_DN", None,
                "DN of the service account the server binds as to search users and groups.",
                shown="unset: anonymous search"),
    SettingSpec("ldap_bind_password", "TUNEHOUSE_LDAP_BIND_PASSWORD", None,
                "Password of TUNEHOUSE_LDAP_BIND_DN (never logged).", shown="unset"),
    SettingSpec("ldap_bind_password_file", "TUNEHOUSE_LDAP_BIND_PASSWORD_FILE", None,
                "File holding the password of TUNEHOUSE_LDAP_BIND_DN (instead of TUNEHOUSE_LDAP_BIND_PASSWORD).",
                shown="unset"),
    SettingSpec("ldap_user_base", "TUNEHOUSE_LDAP_USER_BASE", None,
                "Base DN under which users are searched, e.g. ou=people,dc=example,dc=org (needed with TUNEHOUSE_LDAP_URL).",
                shown="unset"),
    SettingSpec("ldap_user_filter", "TUNEHOUSE_LDAP_USER_FILTER", "(uid={username})",
                "Filter that finds a user; {username} is replaced by the escaped sign-in name, e.g. (sAMAccountName={username}) for Active Directory."),
    SettingSpec("ldap_group_base", "TUNEHOUSE_LDAP_GROUP_BASE", None,
                "Base DN of the groups searched by member=<user DN> (groupOfNames) or memberUid=<name> (posixGroup), besides the user's memberOf.",
                shown="unset: memberOf only"),
    SettingSpec("ldap_admin_group", "TUNEHOUSE_LDAP_ADMIN_GROUP", None,
                "Group (DN or cn) whose members are tunehouse admins; synced on every LDAP sign-in.",
                shown="unset: no LDAP admins"),
    SettingSpec("ldap_project_roles", "TUNEHOUSE_LDAP_PROJECT_ROLES", None,
                "Project roles of LDAP groups: GROUP=PROJECT:ROLE;GROUP2=PROJECT2:ROLE with ROLE viewer, editor or owner; synced on every LDAP sign-in.",
                shown="unset"),
    SettingSpec("ldap_timeout_s", "TUNEHOUSE_LDAP_TIMEOUT_S", 5,
                "Seconds to wait for the LDAP server (connect and each answer) before a sign-in fails with 503."),
    SettingSpec("ldap_start_tls", "TUNEHOUSE_LDAP_START_TLS", False,
                "Upgrade an ldap:// connection with StartTLS (certificate verified) before binding.",
                shown="false"),
    SettingSpec("ldap_ca_file", "TUNEHOUSE_LDAP_CA_FILE", None,
                "PEM file of the CA(s) that signed the LDAP server's certificate (ldaps:// or StartTLS).",
                shown="unset: the system's CAs"),
)
_SPECS = {spec.name: spec for spec in SETTINGS}

CREDENTIALS_FILE = "credentials.json"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`Settings.from_env`; change with ``replace``.

    The defaults are in :data:`SETTINGS` only.
    """

    home: Path
    db: str
    #: A directory, or ``s3://bucket/prefix`` (:func:`tunehouse.store.blob_storage.open_blob_storage`).
    artifacts: str
    server: str | None
    access_key: str | None
    secret_key: str | None
    task_id: str | None
    task_attempt: int | None
    act_as: str | None
    host: str
    port: int
    max_request_mb: int
    task_lost_after_s: float
    worker_lost_retries: int
    init_timeout_s: float
    offline_spool: Path
    session_max_s: int = 12 * 3600
    session_idle_s: int = 2 * 3600
    login_delay_after: int = 5
    login_lockout_after: int = 20
    login_lockout_s: int = 900
    default_project_role: str = "viewer"
    clearml_lease_s: float = 120.0
    ldap_url: str | None = None
    ldap_bind_dn: str | None = None
    ldap_bind_password: str | None = field(default=None, repr=False)
    ldap_bind_password_file: Path | None = None
    ldap_user_base: str | None = None
    ldap_user_filter: str = "(uid={username})"
    ldap_group_base: str | None = None
    ldap_admin_group: str | None = None
    ldap_project_roles: str | None = None
    ldap_timeout_s: float = 5.0
    ldap_start_tls: bool = False
    ldap_ca_file: Path | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = field(default=None, repr=False)
    s3_part_mb: int = 64

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from environment variables, ``$TUNEHOUSE_HOME/config.json`` and overrides.

        Precedence: explicit overrides > environment > config file > defaults.
        """
        env = dict(os.environ if env is None else env)
        home = Path(overrides.pop("home", None) or env.get("TUNEHOUSE_HOME") or DEFAULT_HOME)
        home = home.expanduser().resolve()
        config = _read_json(home / CONFIG_FILE)

        def pick(name: str) -> Any:
            spec = _SPECS[name]
            if overrides.get(name) is not None:
                return overrides[name]
            if env.get(spec.env):
                return env[spec.env]
            if config.get(name) is not None:
                return config[name]
            return spec.default_for(home)

        server = pick("server")
        access_key = pick("access_key")
        secret_key = pick("secret_key")
        if server and not (access_key and secret_key):
            creds = read_credentials(home)
            if creds and (not creds.get("server") or _same_server(creds["server"], server)):
                access_key = access_key or creds.get("access_key")
                secret_key = secret_key or creds.get("secret_key")
        try:
            port = int(pick("port"))
            max_mb = int(pick("max_request_mb"))
            lost_after = float(pick("task_lost_after_s"))
            init_timeout = float(pick("init_timeout_s"))
            lost_retries = int(pick("worker_lost_retries"))
            clearml_lease = float(pick("clearml_lease_s"))
            attempt = pick("task_attempt")
            attempt = None if attempt is None else int(attempt)
        except ValueError as exc:
            raise InvalidInput(f"invalid number in settings: {exc}") from exc
        return cls(
            home=home,
            db=str(pick("db")),
            artifacts=_artifacts_location(pick("artifacts")),
            server=normalize_server_url(str(server)) if server else None,
            access_key=access_key,
            secret_key=secret_key,
            task_id=pick("task_id"),
            task_attempt=attempt,
            act_as=pick("act_as"),
            host=str(pick("host")),
            port=port,
            max_request_mb=max_mb,
            task_lost_after_s=lost_after,
            worker_lost_retries=lost_retries,
            init_timeout_s=init_timeout,
            offline_spool=Path(pick("offline_spool")),
            **_sign_in_settings(pick),
            default_project_role=_project_role(pick("default_project_role")),
            clearml_lease_s=clearml_lease,
            **_ldap_settings(pick),
            **_s3_settings(pick),
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def fence(self) -> tuple[str, int] | None:
        """(task id, attempt) an agent runs this process for, else None."""
        if self.task_id and self.task_attempt is not None:
            return self.task_id, self.task_attempt
        return None

    @property
    def credentials_path(self) -> Path:
        return self.home / CREDENTIALS_FILE


def normalize_server_url(url: str) -> str:
    """The base URL of a server as tunehouse uses it everywhere (settings, client, agent).

    Accepts what people type: no scheme (``localhost:8420`` -> ``http://localhost:8420``),
    trailing slashes, and the API prefix (``http://host:8420/api/v1/`` ->
    ``http://host:8420``). A path before the prefix (a reverse proxy's) is kept.

    Raises:
        InvalidInput: the URL is empty or its scheme is not http or https.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    scheme, _, rest = text.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise InvalidInput(f"the server URL {url!r} is not an http:// or https:// URL "
                           "(check TUNEHOUSE_SERVER)")
    rest = rest.rstrip("/")
    if rest.endswith(API_PREFIX):
        rest = rest[: -len(API_PREFIX)].rstrip("/")
    if not rest:
        raise InvalidInput(f"the server URL {url!r} names no host (check TUNEHOUSE_SERVER)")
    return f"{scheme.lower()}://{rest}"


def _artifacts_location(value: Any) -> str:
    """``s3://bucket/prefix`` as given (without a trailing slash), else the directory,
    resolved."""
    text = str(value).strip()
    if text.lower().startswith("s3://"):
        return text.rstrip("/")
    return str(Path(text).expanduser().resolve())


def _s3_settings(pick: Callable[[str], Any]) -> dict[str, Any]:
    """The ``s3_*`` settings, typed: InvalidInput naming the variable."""
    values: dict[str, Any] = {}
    for name in ("s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key"):
        value = pick(name)
        values[name] = (str(value).strip() or None) if value is not None else None
    part = pick("s3_part_mb")
    try:
        number = int(part)
    except (TypeError, ValueError):
        number = 0
    if number < 5 or isinstance(part, bool):
        raise InvalidInput(f"TUNEHOUSE_S3_PART_MB must be a whole number of at least 5 "
                           f"(S3's smallest part), not {part!r}")
    values["s3_part_mb"] = number
    if bool(values["s3_access_key_id"]) != bool(values["s3_secret_access_key"]):
        raise InvalidInput("TUNEHOUSE_S3_ACCESS_KEY_ID and TUNEHOUSE_S3_SECRET_ACCESS_KEY "
                           "go together: set both, or neither (AWS's credential chain)")
    return values


def _ldap_settings(pick: Callable[[str], Any]) -> dict[str, Any]:
    """The ``ldap_*`` settings, typed; their meaning is checked when the server starts
    (:meth:`tunehouse.server.ldap_auth.LdapConfig.from_settings`)."""
    values: dict[str, Any] = {spec.name: pick(spec.name) for spec in SETTINGS
                              if spec.name.startswith("ldap_")}
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = value.strip() or None
    try:
        values["ldap_timeout_s"] = float(values["ldap_timeout_s"])
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid number in settings: TUNEHOUSE_LDAP_TIMEOUT_S is "
                           f"{values['ldap_timeout_s']!r}") from None
    values["ldap_start_tls"] = _flag("TUNEHOUSE_LDAP_START_TLS", values["ldap_start_tls"])
    values["ldap_user_filter"] = str(values["ldap_user_filter"]
                                     or _SPECS["ldap_user_filter"].default)
    for name in ("ldap_bind_password_file", "ldap_ca_file"):
        if values[name] is not None:
            values[name] = Path(values[name]).expanduser()
    return values


def _flag(env: str, value: Any) -> bool:
    """A yes/no setting: a bool (config.json) or 1/true/yes/on, 0/false/no/off."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InvalidInput(f"{env} must be true or false, not {value!r}")


#: The values of ``default_project_role`` (``none``: no access without a role).
DEFAULT_PROJECT_ROLES = ("viewer", "editor", "none")


def _project_role(value: Any) -> str:
    """A valid ``default_project_role``; InvalidInput naming the setting else."""
    text = str(value).strip().lower()
    if text not in DEFAULT_PROJECT_ROLES:
        raise InvalidInput(f"TUNEHOUSE_DEFAULT_PROJECT_ROLE must be viewer, editor or none, "
                           f"not {value!r}")
    return text


#: The session and sign-in throttling settings (whole numbers, the least value each takes).
_SIGN_IN_MINIMUMS = {"session_max_s": 1, "session_idle_s": 1, "login_delay_after": 1,
                     "login_lockout_after": 1, "login_lockout_s": 1}


def _sign_in_settings(pick: Callable[[str], Any]) -> dict[str, Any]:
    """The session and throttling settings (:mod:`tunehouse.server.sessions`,
    :mod:`tunehouse.server.throttle`), checked: InvalidInput naming the variable."""
    values: dict[str, Any] = {}
    for name, least in _SIGN_IN_MINIMUMS.items():
        value = pick(name)
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = least - 1
        if number < least or isinstance(value, bool):
            raise InvalidInput(f"{_SPECS[name].env} must be a whole number of at least "
                               f"{least}, not {value!r}")
        values[name] = number
    return values


def _same_server(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return normalize_server_url(url).replace("://localhost", "://127.0.0.1")

    return norm(a) == norm(b)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold a JSON object")
    return data


def read_credentials(home: Path) -> dict[str, Any]:
    """The credentials file the server wrote on first start, or ``{}``."""
    return _read_json(home / CREDENTIALS_FILE)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; a directory created here gets mode 0700,
    since a data directory holds the database with password and key hashes."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_credentials(home: Path, data: dict[str, Any]) -> Path:
    """Write the credentials file readable by the owner only (mode 0600)."""
    ensure_private_dir(home)
    path = home / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(path, 0o600)
    return path
