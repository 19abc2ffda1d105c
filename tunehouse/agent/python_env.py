"""The Python a task runs with.

* ``current``: the agent's own interpreter (and its packages), or the one the agent was
  told to use (``tunehouse agent --python``: e.g. a venv with the clearml SDK, as
  clearml-agent's ``CLEARML_AGENT_SKIP_PIP_VENV_INSTALL`` names one).
* ``venv``: a virtual environment built from the task's recorded package list with
  ``uv`` (``python -m venv`` and pip when uv is not installed), cached under
  ``<agent home>/venvs`` by the hash of that list: a second task with the same list starts
  without installing anything. tunehouse itself is never installed from the list: the
  environment sees the agent's tunehouse, and any package the list lacks, through a
  ``.pth`` file placed after its own site-packages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tunehouse.agent.workspace import WorkspaceError, exclusive

ENV_KINDS = ("current", "venv")
INSTALL_TIMEOUT_S = 3600.0
#: Distributions never installed from a recorded list (the agent provides them).
PROVIDED = frozenset({"tunehouse"})



def requirements(packages: list[str]) -> list[str]:
    """The recorded ``name==version`` lines to install (tunehouse itself left out)."""
    wanted = []
    for line in packages:
        name = line.split("==", 1)[0].split(" @ ", 1)[0].strip().lower().replace("_", "-")
        if line.strip() and name not in PROVIDED:
            wanted.append(line.strip())
    return sorted(set(wanted))


def env_key(packages: list[str]) -> str:
    """The cache key of a package list (and of the Python it runs on)."""
    text = "\n".join([sys.version, *requirements(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def interpreter(kind: str, packages: list[str], cache: Path,
                python: str | None = None) -> tuple[str, bool]:
    """``(python executable, reused)`` for a task (``python``: the interpreter of kind
    ``current``, default the agent's own); WorkspaceError when a venv cannot be built
    (the message names the failing step)."""
    if kind == "current":
        return python or sys.executable, True
    if kind != "venv":
        raise WorkspaceError(f"unknown environment kind {kind!r} (use one of {ENV_KINDS})")
    key = env_key(packages)
    folder = cache / key
    built = folder / "bin" / "python"
    cache.mkdir(parents=True, exist_ok=True)
    with exclusive(cache / f"{key}.lock"):  # agents sharing the cache build it once
        if (folder / ".complete").exists() and built.exists():
            return str(built), True
        shutil.rmtree(folder, ignore_errors=True)
        _build(folder, requirements(packages))
        (folder / ".complete").write_text("\n".join(requirements(packages)) + "\n")
    return str(built), False


def _build(folder: Path, wanted: list[str]) -> None:
    uv = _uv()
    python = folder / "bin" / "python"
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(folder)], "create the venv")
        if wanted:
            # compiled now, once: tasks may run with PYTHONDONTWRITEBYTECODE=1, and would
            # then compile every imported package from source at each start
            _run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python",
                  str(python), *wanted],
                 "install the recorded packages")
    else:
        _run([sys.executable, "-m", "venv", str(folder)], "create the venv")
        if wanted:
            _run([str(python), "-m", "pip", "install", "--quiet", *wanted],
                 "install the recorded packages")
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    agent_paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                   str(Path(__file__).resolve().parents[2])}
    (site / "zz_tunehouse_agent.pth").write_text("\n".join(sorted(agent_paths)) + "\n")


def _uv() -> str | None:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    return found if found and os.access(found, os.X_OK) else None


def _run(command: list[str], step: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, timeout=INSTALL_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WorkspaceError(f"could not {step}: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip()[-1500:]
        raise WorkspaceError(f"could not {step}: {detail}")
