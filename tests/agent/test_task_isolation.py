"""Task code cannot become its agent: a real agent with an agent account runs a task whose
code hunts for tunehouse keys in every process's environment (and, with ``--task-user``,
in the agent's files); it finds its own per-attempt key and never the agent's.

With ``--task-user`` the tasks run as an unprivileged OS user these tests create (they
need root, ``useradd`` and ``setfacl``: the user is granted passage, by ACL, through the
private folders above this Python; they skip with the reason otherwise)."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.conftest import StartAgent, console, script_task, unique, wait_for
from tests.helpers.server import ServerProcess
from tunehouse.client.accounts import HttpAccounts
from tunehouse.client.http import HttpStore
from tunehouse.settings import write_credentials
from tunehouse.store.records import NewApiKey, TaskStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_USER = "tunehouse-task-test"

#: The task: looks for the agent's key (given as the SHA-256 of its access key and of its
#: secret) in every /proc/<pid>/environ and cmdline it can read, and in every file it can
#: read under the folders given; prints what it found as one JSON line.
HUNT = r'''
import hashlib, json, os, re, sys
key_sha, secret_sha, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
patterns = {"access key": (re.compile(rb"TH[A-Z2-7]{20}"), key_sha),
            "secret": (re.compile(rb"[A-Za-z0-9_-]{43}"), secret_sha)}
found, environs, unreadable, keys = [], 0, [], set()
def look(where, data):
    if where.endswith("/environ"):
        keys.update(k.decode() for k in patterns["access key"][0].findall(data))
    for what, (pattern, digest) in patterns.items():
        if any(hashlib.sha256(t).hexdigest() == digest for t in pattern.findall(data)):
            found.append(f"{what} in {where}")
for pid in filter(str.isdigit, os.listdir("/proc")):
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as handle:
                look(f"/proc/{pid}/{name}", handle.read())
            environs += name == "environ"
        except OSError:
            pass
def read(path):
    try:
        with open(path, "rb") as handle:
            look(path, handle.read())
    except OSError:
        unreadable.append(path)
for root in roots:
    if not os.path.isdir(root):
        read(root)
    for folder, _, files in os.walk(root, onerror=lambda e: unreadable.append(e.filename)):
        for name in files:
            read(os.path.join(folder, name))
print("HUNT " + json.dumps({"found": found, "environs": environs, "uid": os.getuid(),
                            "keys": sorted(keys),
                            "unreadable": unreadable,
                            "own_key": os.environ.get("TUNEHOUSE_ACCESS_KEY")}))
'''


def _blocking_folders(path: Path) -> list[Path]:
    """The folders above (and at) ``path`` that others may not pass through."""
    return [folder for folder in [*reversed(path.parents), path]
            if folder.is_dir() and not folder.stat().st_mode & 0o001]


@pytest.fixture(scope="module")
def task_user() -> Iterator[str]:
    """An unprivileged OS user that can run this Python and tunehouse (granted passage by
    ACL through the private folders above them, taken back afterwards)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("--task-user tests need Linux and root (to create a user and switch "
                    "to it)")
    for tool in ("useradd", "setfacl"):
        if shutil.which(tool) is None:
            pytest.skip(f"--task-user tests need {tool} (Debian: passwd, acl)")
    try:
        pwd.getpwnam(TASK_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                               "/nonexistent", "--shell", "/usr/sbin/nologin", TASK_USER],
                              capture_output=True, text=True, check=False)
        if made.returncode not in (0, 9):  # 9: made meanwhile by another test process
            pytest.skip(f"cannot create the OS user {TASK_USER}: {made.stderr.strip()}")
    needed = {Path(sys.executable).resolve().parent, Path(sys.prefix), Path(sys.base_prefix),
              REPO_ROOT}
    granted = sorted({folder for path in needed for folder in _blocking_folders(path)})
    for folder in granted:
        subprocess.run(["setfacl", "-m", f"u:{TASK_USER}:x", str(folder)], check=True)
    try:
        yield TASK_USER
    finally:
        for folder in granted:
            subprocess.run(["setfacl", "-x", f"u:{TASK_USER}", str(folder)], check=False)


@pytest.fixture
def agent_home() -> Iterator[Path]:
    """The agent's TUNEHOUSE_HOME, outside pytest's private temporary folders (a task user
    must pass through it to reach its workspace)."""
    home = Path(tempfile.mkdtemp(prefix="tunehouse-agent-home-"))
    home.chmod(0o711)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _agent_account(server: ServerProcess) -> tuple[str, NewApiKey, NewApiKey]:
    """A new agent account's key, and a key of a new ordinary user (the task's owner)."""
    agent, owner = unique("agent-acct"), unique("owner")
    with HttpAccounts(server.url, server.access_key, server.secret_key) as admin:
        admin.users.create_user(agent, "agent-password-123", agent=True)
        admin.users.create_user(owner, "owner-password-123")
        return agent, admin.keys.create_api_key(agent), admin.keys.create_api_key(owner)


def _hunt(server: ServerProcess, start_agent: StartAgent, home: Path,
          *options: str) -> tuple[dict[str, object], str, NewApiKey]:
    """Run the hunting task as an ordinary user's, on an agent with an agent account's key
    (in its environment and its credentials file); what the task found, the agent's log,
    and the agent's key."""
    _, agent_key, owner_key = _agent_account(server)
    write_credentials(home, {"server": server.url, "access_key": agent_key.access_key,
                             "secret_key": agent_key.secret_key})
    key_sha, secret_sha = (hashlib.sha256(text.encode()).hexdigest()
                           for text in (agent_key.access_key, agent_key.secret_key))
    queue = unique("q-hunt")
    with HttpStore(server.url, owner_key.access_key, owner_key.secret_key) as store:
        task_id = script_task(store, HUNT, project=unique("hunt"),
                              argv=[key_sha, secret_sha, str(home),
                                    str(home / "credentials.json")])
        store.queues.enqueue(task_id, queue)
        agent = start_agent(server, "--queue", queue, "--cpu-only", *options, env={
            "TUNEHOUSE_HOME": str(home), "TUNEHOUSE_ACCESS_KEY": agent_key.access_key,
            "TUNEHOUSE_SECRET_KEY": agent_key.secret_key, "PYTHONPATH": str(REPO_ROOT)})
        done = wait_for(store, task_id, timeout=120)
        assert done.status is TaskStatus.completed, (done.status_reason, done.status_message,
                                                     agent.log())
        [line] = [line for line in console(store, task_id) if line.startswith("HUNT ")]
    return json.loads(line[5:]), agent.log(), agent_key


def test_a_task_run_as_the_task_user_finds_no_key_but_its_own(
        server: ServerProcess, start_agent: StartAgent, task_user: str,
        agent_home: Path) -> None:
    found, log, agent_key = _hunt(server, start_agent, agent_home, "--task-user", task_user)
    assert found["found"] == [], found
    assert found["uid"] == pwd.getpwnam(task_user).pw_uid
    # its own key: the owner's, made for this attempt; the agent's files are out of reach
    assert found["own_key"] and found["own_key"] != agent_key.access_key
    assert found["keys"] == [found["own_key"]]  # the only key in any environment it reads
    assert str(agent_home / "credentials.json") in found["unreadable"]
    assert "tasks run as this agent's OS user" not in log


def test_without_a_task_user_no_process_environment_holds_the_agent_key(
        server: ServerProcess, start_agent: StartAgent, agent_home: Path) -> None:
    """The task runs with the agent's OS rights (root here: it reads every process's
    environment), yet the agent's key is in none of them; the agent says so at start."""
    found, log, agent_key = _hunt(server, start_agent, agent_home)
    in_proc = [where for where in found["found"] if str(where).startswith(("access key in /proc",
                                                                            "secret in /proc"))]
    assert in_proc == [], found
    assert isinstance(found["environs"], int) and found["environs"] > 3
    assert found["own_key"] and found["own_key"] != agent_key.access_key
    assert "tasks run as this agent's OS user" in log and "--task-user" in log


def test_the_agent_refuses_a_task_user_it_cannot_be(server: ServerProcess,
                                                    tmp_path: Path) -> None:
    name = f"no-such-user-{uuid.uuid4().hex[:6]}"
    done = subprocess.run([sys.executable, "-m", "tunehouse", "agent", "--task-user", name,
                           "--cpu-only"], env=server.client_env(home=tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and f"there is no OS user {name!r}" in done.stderr
