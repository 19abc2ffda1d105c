"""Keeping task code away from its agent's credentials (docs/security.md).

A task's process must not become its agent: the agent's key can act for the owners of the
tasks it runs, so a task that read it could act as them. Three defences:

* :func:`protect_agent_process`, at start: the agent marks itself non-dumpable
  (``prctl(PR_SET_DUMPABLE, 0)``), so processes of the same OS user can neither read its
  memory nor its ``/proc/<pid>/environ``, and wipes its key from its environment: both
  from ``os.environ`` and from the environment block the kernel shows in
  ``/proc/<pid>/environ`` (which unsetting a variable does not change), so that a task
  running as root (``--task-user`` not given, agent run as root) finds no key there either.
* The task's environment never holds the agent's key: it gets a key of its owner made for
  that attempt alone (:mod:`tunehouse.agent.runner`).
* ``--task-user USER`` (:class:`TaskUser`): every task process runs as that OS user, in a
  workspace handed over to it; the agent's home, credentials file and memory stay out of
  its reach.
"""

from __future__ import annotations

import ctypes
import grp
import logging
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tunehouse.errors import InvalidInput

log = logging.getLogger("tunehouse.agent")

#: The agent's credentials in its environment: wiped at start.
CREDENTIAL_VARIABLES = ("TUNEHOUSE_ACCESS_KEY", "TUNEHOUSE_SECRET_KEY")
_PR_SET_DUMPABLE = 4


@dataclass(frozen=True)
class TaskUser:
    """The OS user task processes run as (``tunehouse agent --task-user``)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: Path

    def popen_options(self) -> dict[str, object]:
        """What ``subprocess.Popen`` needs to start a process as this user (nothing when
        the agent already is that user)."""
        if self.uid == os.geteuid():
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def environment(self, fallback_home: Path) -> dict[str, str]:
        """``USER``, ``LOGNAME`` and ``HOME`` for the task (``fallback_home`` when the
        user's own home is not a folder it owns, as for system users)."""
        try:
            owned = self.home.is_dir() and self.home.stat().st_uid == self.uid
        except OSError:
            owned = False
        home = self.home if owned else fallback_home
        return {"USER": self.name, "LOGNAME": self.name, "HOME": str(home)}

    def own(self, path: Path, mode: int = 0o700) -> None:
        """Hand ``path`` (and everything under it) over to this user; ``path`` itself
        gets ``mode``."""
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), self.uid, self.gid)
        os.chown(path, self.uid, self.gid)
        path.chmod(mode)


def resolve_task_user(name: str) -> TaskUser:
    """The OS user ``name``; InvalidInput when it does not exist or this process may not
    start processes as it (that takes root, or being that user)."""
    if sys.platform != "linux":
        raise InvalidInput("--task-user is supported on Linux only")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InvalidInput(f"--task-user: there is no OS user {name!r}") from None
    if os.geteuid() not in (0, entry.pw_uid):
        raise InvalidInput(f"--task-user {name}: the agent runs as uid {os.geteuid()} and "
                           "cannot start processes as another user; run it as root (for "
                           "example from the systemd unit in docs/agent.md)")
    groups = tuple(sorted({g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
                          - {entry.pw_gid}))
    return TaskUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups,
                    home=Path(entry.pw_dir))


def check_task_user_can_run(user: TaskUser, python: str) -> None:
    """InvalidInput naming the problem when ``user`` cannot start ``python`` and import
    tunehouse with it (the agent's Python must be installed where that user can read it)."""
    try:
        done = subprocess.run([python, "-c", "import tunehouse"], capture_output=True,
                              timeout=60, check=False, cwd="/", env={"PATH": os.defpath},
                              **user.popen_options())  # type: ignore[call-overload]
    except (OSError, subprocess.SubprocessError) as exc:
        raise InvalidInput(f"--task-user {user.name} cannot run {python}: {exc}; install "
                           f"tunehouse where {user.name} can read it") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise InvalidInput(f"--task-user {user.name} cannot run {python} with tunehouse: "
                           f"{detail[-1] if detail else f'exit code {done.returncode}'}; "
                           f"install tunehouse where {user.name} can read it")


def protect_agent_process() -> None:
    """Make this process non-dumpable and wipe its credentials from its environment
    (see the module doc). Linux only; elsewhere only ``os.environ`` is cleaned."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.warning("could not mark the agent non-dumpable: %s",
                        os.strerror(ctypes.get_errno()))
        wipe_environment_block(CREDENTIAL_VARIABLES)
    for name in CREDENTIAL_VARIABLES:
        os.environ.pop(name, None)


def wipe_environment_block(names: tuple[str, ...]) -> int:
    """Overwrite the values of ``names`` with NUL bytes in this process's original
    environment block (what ``/proc/<pid>/environ`` shows); returns how many were wiped."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        # fields after the command name start at field 3; env_start/env_end are 50 and 51
        start, end = int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return 0
    if not 0 < start < end:
        return 0
    block = ctypes.string_at(start, end - start)
    wiped = 0
    offset = 0
    for entry in block.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and value and key.decode("utf-8", errors="replace") in names:
            ctypes.memset(start + offset + len(key) + 1, 0, len(value))
            wiped += 1
        offset += len(entry) + 1
    return wiped


def warn_tasks_share_agent_rights() -> None:
    """Say once that, without ``--task-user``, task code has the agent's own OS rights."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    log.warning("tasks run as this agent's OS user %s: task code can read and change "
                "whatever %s can (files, other tasks' workspaces, a credentials file in its "
                "home); run the agent with --task-user USER to give tasks rights of their "
                "own (docs/security.md)", user, user)
