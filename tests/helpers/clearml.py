"""The real ClearML SDK, in a virtual environment of its own, driving a tunehouse server.

:func:`clearml_python` builds ``<repo>/.cache/clearml-venv-<version>`` once (``uv venv``
and ``uv pip install --compile-bytecode clearml==CLEARML_VERSION`` from PyPI, pip when uv
is missing), under a file lock so parallel test workers build it once, and reuses it
while its stamp names the pinned version. A failed install raises: the tests that need
the SDK fail, they are never skipped.

:func:`run_sdk` runs a script with that interpreter against a server, configured only by
the environment (``CLEARML_API_HOST`` and friends, an API key), with a timeout: the SDK
retries some failures forever. Its reporter runs in a thread (``report_use_subprocess:
false``). Every connection other than to 127.0.0.1 goes through a
proxy address that refuses it (the SDK asks PyPI whether it is up to date).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.server import clean_env

#: The clearml SDK the tests drive (pinned: the API it speaks is what we serve).
CLEARML_VERSION = "2.1.12"
REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".cache" / f"clearml-venv-{CLEARML_VERSION}"
#: How long one SDK script may run before the test fails (it would rather retry forever).
SCRIPT_TIMEOUT_S = 120.0
_STAMP = ".clearml-installed"


def clearml_python() -> Path:
    """The interpreter of the ClearML SDK's own virtual environment (built when missing)."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f"{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = VENV / "bin" / "python"
        stamp = VENV / _STAMP
        if stamp.exists() and stamp.read_text() == CLEARML_VERSION and python.exists():
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        uv = Path(sys.executable).parent / "uv"
        if uv.exists():
            commands = [[str(uv), "venv", "-q", "--python", sys.executable, str(VENV)],
                        [str(uv), "pip", "install", "-q", "--python", str(python),
                         "--compile-bytecode", f"clearml=={CLEARML_VERSION}"]]
        else:
            commands = [[sys.executable, "-m", "venv", str(VENV)],
                        [str(python), "-m", "pip", "install", "-q", f"clearml=={CLEARML_VERSION}"]]
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                  env=clean_env())
            if done.returncode != 0:
                raise RuntimeError(f"installing the clearml SDK failed: {' '.join(command)}\n"
                                   f"{done.stdout}\n{done.stderr}")
        stamp.write_text(CLEARML_VERSION)
        return python


def sdk_env(url: str, access_key: str, secret_key: str, home: Path) -> dict[str, str]:
    """The environment of an SDK process talking to the tunehouse server at ``url``."""
    return clean_env(
        CLEARML_API_HOST=f"{url}/clearml", CLEARML_WEB_HOST=url,
        CLEARML_FILES_HOST=f"{url}/clearml-files",
        CLEARML_API_ACCESS_KEY=access_key, CLEARML_API_SECRET_KEY=secret_key,
        **sdk_settings_env(home))


def sdk_settings_env(home: Path) -> dict[str, str]:
    """The SDK's settings without a server nor a key (what ``tunehouse agent`` passes on
    to the clearml tasks it runs, adding those): its configuration file and cache under
    ``home``, and no connection but to 127.0.0.1."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "clearml.conf"
    # the reporter in a thread, not a forked process: forked, it shares the parent's
    # pooled connections and sometimes deadlocks in fork (seen with clearml 2.1.12)
    config.write_text("sdk.development.suppress_update_message: true\n"
                      "sdk.development.report_use_subprocess: false\n")
    return dict(
        CLEARML_CONFIG_FILE=str(config), CLEARML_CACHE_DIR=str(home / "cache"),
        CLEARML_LOG_LEVEL="WARNING", HOME=str(home), PYTHONDONTWRITEBYTECODE="1",
        # nothing but the local server: a proxy that refuses, 127.0.0.1 exempt
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")


@dataclass(frozen=True)
class SdkRun:
    """What an SDK script did."""

    returncode: int
    stdout: str
    stderr: str

    def value(self, key: str) -> str:
        """The text after ``KEY=`` on the script's output line that starts with it."""
        for line in self.stdout.splitlines():
            if line.startswith(f"{key}="):
                return line.split("=", 1)[1]
        raise AssertionError(f"no {key}= line in the script's output:\n{self.stdout}\n"
                             f"{self.stderr}")


def run_sdk(python: Path, script: str, env: dict[str, str], cwd: Path,
            args: tuple[str, ...] = (), timeout: float = SCRIPT_TIMEOUT_S) -> SdkRun:
    """Run ``script`` (Python source) with the SDK's interpreter in ``cwd``; fails the
    calling test on a timeout (the SDK hung) with what it printed so far."""
    cwd.mkdir(parents=True, exist_ok=True)
    path = cwd / "train.py"
    path.write_text(script)
    try:
        done = subprocess.run([str(python), str(path), *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the clearml SDK hung for {timeout} s:\n{exc.stdout!r}\n"
                             f"{exc.stderr!r}") from None
    return SdkRun(done.returncode, done.stdout, done.stderr)


__all__ = ["CLEARML_VERSION", "SdkRun", "clearml_python", "run_sdk", "sdk_env",
           "sdk_settings_env"]
