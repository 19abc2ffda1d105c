"""Bringing a task's code back on the agent's machine.

* Recorded in git: the repository is cloned once into a cache (``<agent home>/repos``,
  one mirror per repository URL, fetched again when the commit is missing), then each
  attempt gets its own checkout (a clone sharing the cache's objects) at the recorded
  commit with the recorded uncommitted diff applied. A diff that does not apply fails the
  task with git's message.
* Not in git: the stored script text is written into the attempt's folder.

The untracked files of the original run are not brought back, except the entry script
itself (its text is stored when it was untracked).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tunehouse.errors import InvalidInput
from tunehouse.store.base import Store
from tunehouse.store.records import Script

GIT_TIMEOUT_S = 600.0
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()
#: The recorded diff was too large to keep inline: it is the task's artifact of this name.
LARGE_DIFF_ARTIFACT = "git_diff"


class WorkspaceError(Exception):
    """The code could not be brought back; the message is the task's failure reason."""


@dataclass(frozen=True)
class Workspace:
    """Where an attempt runs: the folder to remove afterwards, the script to run and the
    working directory to run it in."""

    root: Path
    entry: Path
    cwd: Path


def prepare(store: Store, task_id: str, script: Script, folder: Path, cache: Path,
            local_root: str | None = None) -> Workspace:
    """Check out (or write) the task's code under ``folder`` (made afresh: a leftover of
    an earlier run of this attempt is removed).

    ``local_root``: the repository's folder where the task was recorded, when that was this
    machine; it is cloned first (no network, unpushed commits), the recorded repository
    URL when it lacks the commit."""
    if not script.entry_point:
        raise WorkspaceError("the task has no recorded entry point (it was not started "
                             "from a script file); nothing to run")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    use_git = bool(script.repository and script.commit)
    if use_git and script.script_text and Path(script.repository).is_absolute() \
            and not Path(script.repository).exists():
        # a repository without a remote, recorded by its path on another machine: the
        # script text was stored for this case
        use_git = False
    if use_git:
        _checkout(store, task_id, script, folder / "code", cache, local_root)
        root = folder / "code"
        entry = root / script.entry_point
        if script.script_text and not entry.exists():
            entry.parent.mkdir(parents=True, exist_ok=True)
            entry.write_text(script.script_text)
        cwd = root / script.working_dir if script.working_dir and \
            not Path(script.working_dir).is_absolute() else root
    else:
        if not script.script_text:
            raise WorkspaceError("the task's script was not in git and its text was not "
                                 "stored; nothing to run")
        root = folder / "code"
        root.mkdir()
        entry = root / Path(script.entry_point).name
        entry.write_text(script.script_text)
        cwd = root
    if not entry.is_file():
        raise WorkspaceError(f"the entry point {script.entry_point!r} is not in the "
                             f"checked-out code at commit {script.commit[:12]}")
    cwd.mkdir(parents=True, exist_ok=True)
    return Workspace(root=folder, entry=entry, cwd=cwd)


def remove(workspace: Workspace) -> None:
    shutil.rmtree(workspace.root, ignore_errors=True)


def _checkout(store: Store, task_id: str, script: Script, target: Path, cache: Path,
              local_root: str | None) -> None:
    sources = [script.repository]
    if local_root and local_root != script.repository and (Path(local_root) / ".git").exists():
        sources.insert(0, local_root)
    problems = []
    for source in sources:
        try:
            mirror = _mirror(source, script.commit, cache)
            break
        except WorkspaceError as exc:
            problems.append(str(exc))
    else:
        raise WorkspaceError("; ".join(problems))
    _git(["clone", "--quiet", "--shared", "--no-checkout", str(mirror), str(target)], cache,
         "could not clone the cached repository")
    _git(["checkout", "--quiet", "--detach", script.commit], target,
         f"could not check out commit {script.commit}")
    diff = script.diff
    if diff.startswith("# uncommitted diff of"):
        diff = _large_diff(store, task_id)
    if diff.strip():
        _git(["apply", "--whitespace=nowarn", "--binary", "-"], target,
             "the recorded uncommitted changes (git diff) do not apply", stdin=diff)


def _mirror(repository: str, commit: str, cache: Path) -> Path:
    """The cached bare mirror of ``repository``, holding ``commit``. One clone or fetch
    at a time per mirror, across the slots of an agent and the agents sharing the cache."""
    cache.mkdir(parents=True, exist_ok=True)
    mirror = cache / hashlib.sha256(repository.encode()).hexdigest()[:24]
    with exclusive(mirror.with_name(mirror.name + ".lock")):
        if not mirror.exists():
            partial = mirror.with_name(f"{mirror.name}.{uuid.uuid4().hex}.partial")
            try:
                _git(["clone", "--quiet", "--mirror", repository, str(partial)], cache,
                     f"could not clone {repository}")
                partial.rename(mirror)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        if not _has_commit(mirror, commit):
            _git(["fetch", "--quiet", "--prune", "origin"], mirror,
                 f"could not fetch {repository}")
            if not _has_commit(mirror, commit):
                raise WorkspaceError(f"commit {commit} is not in {repository} (was it "
                                     "pushed?)")
    return mirror


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Held by one thread of one process at a time, among every process that uses
    ``lock_path`` (the agents sharing a cache): a thread lock for the slots of this agent,
    since ``flock`` is per open file, then the file lock."""
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(str(lock_path), threading.Lock())
    with thread_lock, open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _has_commit(mirror: Path, commit: str) -> bool:
    done = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=mirror,
                          capture_output=True, env=_git_env(), check=False)
    return done.returncode == 0


def _large_diff(store: Store, task_id: str) -> str:
    for artifact in store.artifacts.list_artifacts(task_id):
        if artifact.name == LARGE_DIFF_ARTIFACT:
            data = b"".join(store.artifacts.open_blob(artifact.sha256))
            return data.decode("utf-8", errors="replace")
    raise WorkspaceError(f"the recorded diff is stored as artifact {LARGE_DIFF_ARTIFACT!r}, "
                         "which the task does not have")


def _git(args: list[str], cwd: Path, failure: str, stdin: str | None = None) -> None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=_git_env(),
                              timeout=GIT_TIMEOUT_S, check=False,
                              input=None if stdin is None else stdin.encode())
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed on the agent's machine") from exc
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(f"{failure}: git took longer than {GIT_TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip()[-1500:]
        raise WorkspaceError(f"{failure}: {detail}")


def _git_env() -> dict[str, str]:
    return dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")


def check_folder(path: Path) -> Path:
    """The agent's working folder, created private; InvalidInput when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InvalidInput(f"cannot use {path} as the agent's folder: {exc}") from exc
    return path
