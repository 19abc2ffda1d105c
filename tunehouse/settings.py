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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunehouse.errors import InvalidInput


@dataclass(frozen=True)
class SettingSpec:
    """Documentation of one setting."""

    name: str
    env: str
    default: str
    help: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("home", "TUNEHOUSE_HOME", "~/.tunehouse",
                "Data directory: embedded SQLite database, artifacts, credentials, spool."),
    SettingSpec("db", "TUNEHOUSE_DB", "sqlite:///$TUNEHOUSE_HOME/tunehouse.db",
                "SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db."),
    SettingSpec("artifacts", "TUNEHOUSE_ARTIFACTS", "$TUNEHOUSE_HOME/artifacts",
                "Directory of the content-addressed artifact store."),
    SettingSpec("server", "TUNEHOUSE_SERVER", "(unset: embedded mode)",
                "URL of a tracking server; when set the SDK, CLI and agents talk HTTP to it."),
    SettingSpec("access_key", "TUNEHOUSE_ACCESS_KEY", "(from the credentials file)",
                "API access key used with a server."),
    SettingSpec("secret_key", "TUNEHOUSE_SECRET_KEY", "(from the credentials file)",
                "API secret used with a server."),
    SettingSpec("task_id", "TUNEHOUSE_TASK_ID", "(unset)",
                "Set by the agent: Task.init attaches to this existing task."),
    SettingSpec("host", "TUNEHOUSE_HOST", "127.0.0.1", "Address the server listens on."),
    SettingSpec("port", "TUNEHOUSE_PORT", "8420", "Port the server listens on."),
    SettingSpec("max_request_mb", "TUNEHOUSE_MAX_REQUEST_MB", "64",
                "Largest JSON request body the server accepts, in MiB (artifact uploads stream and are not limited by it)."),
    SettingSpec("offline_spool", "TUNEHOUSE_SPOOL", "$TUNEHOUSE_HOME/spool",
                "Where the SDK spools reports while the server is unreachable."),
)

CREDENTIALS_FILE = "credentials.json"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`Settings.from_env`; change with ``replace``."""

    home: Path
    db: str
    artifacts: Path
    server: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    task_id: str | None = None
    host: str = "127.0.0.1"
    port: int = 8420
    max_request_mb: int = 64
    offline_spool: Path = field(default=Path("."))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from environment variables, ``$TUNEHOUSE_HOME/config.json`` and overrides.

        Precedence: explicit overrides > environment > config file > defaults.
        """
        env = dict(os.environ if env is None else env)
        home = Path(overrides.pop("home", None) or env.get("TUNEHOUSE_HOME") or "~/.tunehouse")
        home = home.expanduser().resolve()
        config = _read_json(home / CONFIG_FILE)

        def pick(name: str, env_name: str, default: Any = None) -> Any:
            if overrides.get(name) is not None:
                return overrides[name]
            if env.get(env_name):
                return env[env_name]
            if config.get(name) is not None:
                return config[name]
            return default

        artifacts = Path(pick("artifacts", "TUNEHOUSE_ARTIFACTS", home / "artifacts"))
        db = pick("db", "TUNEHOUSE_DB", f"sqlite:///{home / 'tunehouse.db'}")
        server = pick("server", "TUNEHOUSE_SERVER")
        access_key = pick("access_key", "TUNEHOUSE_ACCESS_KEY")
        secret_key = pick("secret_key", "TUNEHOUSE_SECRET_KEY")
        if server and not (access_key and secret_key):
            creds = read_credentials(home)
            if creds and (not creds.get("server") or _same_server(creds["server"], server)):
                access_key = access_key or creds.get("access_key")
                secret_key = secret_key or creds.get("secret_key")
        try:
            port = int(pick("port", "TUNEHOUSE_PORT", 8420))
            max_mb = int(pick("max_request_mb", "TUNEHOUSE_MAX_REQUEST_MB", 64))
        except ValueError as exc:
            raise InvalidInput(f"invalid number in settings: {exc}") from exc
        return cls(
            home=home,
            db=str(db),
            artifacts=artifacts.expanduser().resolve(),
            server=str(server).rstrip("/") if server else None,
            access_key=access_key,
            secret_key=secret_key,
            task_id=pick("task_id", "TUNEHOUSE_TASK_ID"),
            host=str(pick("host", "TUNEHOUSE_HOST", "127.0.0.1")),
            port=port,
            max_request_mb=max_mb,
            offline_spool=Path(pick("offline_spool", "TUNEHOUSE_SPOOL", home / "spool")),
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def credentials_path(self) -> Path:
        return self.home / CREDENTIALS_FILE


def _same_server(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url.rstrip("/").replace("://localhost", "://127.0.0.1")

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
