"""The real ClearML SDK and agent, in a virtual environment of their own, driving a
tunehouse server.

:func:`clearml_python` builds ``<repo>/.cache/clearml-venv-<version>`` once (``uv venv``
and ``uv pip install --compile-bytecode clearml==CLEARML_VERSION`` from PyPI, pip when uv
is missing), under a file lock so parallel test workers build it once, and reuses it
while its stamp names the pinned version. A failed install raises: the tests that need
the SDK fail, they are never skipped. A ``.pth`` file in its site-packages adds the
project venv's site-packages after its own: scripts of the SDK import TensorFlow/Keras
and tunehouse from the project venv (installed once), while the SDK's own packages come
first.

:func:`run_sdk` runs a script with that interpreter against a server, configured only by
the environment (``CLEARML_API_HOST`` and friends, an API key), with a timeout: the SDK
retries some failures forever. Its reporter runs in a thread (``report_use_subprocess:
false``). Every connection other than to 127.0.0.1 goes through a
proxy address that refuses it (the SDK asks PyPI whether it is up to date).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.server import clean_env

#: The clearml SDK and agent the tests drive (pinned: the API they speak is what we serve).
CLEARML_VERSION = "2.1.12"
CLEARML_AGENT_VERSION = "3.0.3"
_PACKAGES = (f"clearml=={CLEARML_VERSION}", f"clearml-agent=={CLEARML_AGENT_VERSION}")
_STAMP_TEXT = " ".join(_PACKAGES)
REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".cache" / f"clearml-venv-{CLEARML_VERSION}"
#: How long one SDK script may run before the test fails (it would rather retry forever).
SCRIPT_TIMEOUT_S = 120.0
_STAMP = ".clearml-installed"
#: The project venv's site-packages (TensorFlow, Keras), seen by the SDK's venv after its
#: own through ``_PTH``; the stamp names it too, so an older venv gains the file.
_PROJECT_SITE = sysconfig.get_paths()["purelib"]
_PTH = "tunehouse-project-site.pth"


def clearml_python() -> Path:
    """The interpreter of the ClearML SDK's own virtual environment (built when missing)."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f"{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = VENV / "bin" / "python"
        stamp = VENV / _STAMP
        stamped = f"{_STAMP_TEXT}\n{_PROJECT_SITE}"
        if stamp.exists() and stamp.read_text() == stamped and python.exists():
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        uv = Path(sys.executable).parent / "uv"
        if uv.exists():
            commands = [[str(uv), "venv", "-q", "--python", sys.executable, str(VENV)],
                        [str(uv), "pip", "install", "-q", "--python", str(python),
                         "--compile-bytecode", *_PACKAGES]]
        else:
            commands = [[sys.executable, "-m", "venv", str(VENV)],
                        [str(python), "-m", "pip", "install", "-q", *_PACKAGES]]
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                  env=clean_env())
            if done.returncode != 0:
                raise RuntimeError(f"installing the clearml SDK failed: {' '.join(command)}\n"
                                   f"{done.stdout}\n{done.stderr}")
        _see_project_site(python)
        stamp.write_text(stamped)
        return python


def _see_project_site(python: Path) -> None:
    """Write ``_PTH`` into the SDK venv's site-packages: the project venv's site-packages
    are then on its ``sys.path``, after its own."""
    done = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, timeout=60, check=True,
                          env=clean_env())
    # addsitedir, not a bare path: the project venv's own .pth files (the editable
    # install of tunehouse) are processed too
    (Path(done.stdout.strip()) / _PTH).write_text(
        f"import site; site.addsitedir({_PROJECT_SITE!r})\n")


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




@dataclass
class ClearmlAgent:
    """A running ``clearml-agent daemon`` (its own process group) and its log."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the daemon and everything it started (a machine dying)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@contextmanager
def clearml_agent(python: Path, url: str, access_key: str, secret_key: str, home: Path,
                  queue: str, worker_id: str) -> Iterator[ClearmlAgent]:
    """``clearml-agent daemon --queue QUEUE --create-queue --foreground`` with the SDK's
    venv as the tasks' interpreter (no venv built per task, no network), status reports
    and task pings every second; killed when the block ends."""
    env = sdk_env(url, access_key, secret_key, home)
    (home / "clearml.conf").write_text(
        "sdk.development.suppress_update_message: true\n"
        "sdk.development.report_use_subprocess: false\n"
        "agent.task_ping_interval_sec: 1\n"
        f"agent.venvs_dir: {home / 'venvs'}\n")
    env.update(CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL="1",
               CLEARML_AGENT_STATUS_REPORT_FREQ_SEC="1", CLEARML_WORKER_ID=worker_id)
    log_path = home / "agent.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(python.parent / "clearml-agent"), "daemon", "--queue",
                                 queue, "--create-queue", "--foreground"],
                                env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    agent = ClearmlAgent(proc, log_path)
    try:
        yield agent
    finally:
        agent.kill()


__all__ = ["CLEARML_VERSION", "ClearmlAgent", "SdkRun", "clearml_agent", "clearml_python",
           "run_sdk", "sdk_env", "sdk_settings_env"]
