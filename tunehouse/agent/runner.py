"""One attempt of one task on an agent: bring the code and the Python back, run the entry
point in a slot, stream its console, obey aborts, revocations and the time limit, and set
the final status from the exit code (or hand the task back to its queue for a retry).

Every write goes through a store view fenced to the attempt (``Store.with_fence``), acting
for the task's owner: once the attempt is over (lease lost, task requeued) the server
refuses what it still sends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tunehouse.agent import python_env, workspace
from tunehouse.agent.console import ConsoleStream
from tunehouse.agent.isolation import TaskUser
from tunehouse.agent.machine import host_name
from tunehouse.agent.slots import Slot
from tunehouse.agent.workspace import WorkspaceError
from tunehouse.common.clearml import sdk_environment
from tunehouse.common.environment_extra import CLEARML_KEY, CODE_ROOT_KEY
from tunehouse.common.retry import retrying
from tunehouse.errors import PermissionDenied, ServerUnavailable, StaleAttempt, TunehouseError
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import NewApiKey, StatusChange, Task, TaskStatus

if TYPE_CHECKING:
    from tunehouse.client.accounts import HttpAccounts

log = logging.getLogger("tunehouse.agent")

#: How long the final status is retried while the server is unreachable.
STATUS_RETRY_S = 120.0
#: Linux: the task's process is killed when the agent dies (``PR_SET_PDEATHSIG``, kept
#: across exec), so an agent killed outright leaves no orphan holding a GPU.
_LAUNCH = ("import ctypes, os, sys\n"
           "ctypes.CDLL(None).prctl(1, 9)\n"
           "if os.getppid() != int(sys.argv[1]): sys.exit(137)\n"
           "os.execv(sys.argv[2], sys.argv[2:])\n")
_GPU_OOM = ("CUDA out of memory", "CUDA_ERROR_OUT_OF_MEMORY", "RESOURCE_EXHAUSTED",
            "OutOfMemoryError", "out of memory trying to allocate", "CUBLAS_STATUS_ALLOC_FAILED")


@dataclass(frozen=True)
class AgentConfig:
    """What every attempt of an agent shares."""

    name: str
    queues: list[str]
    settings: Settings
    env_kind: str = "current"
    #: With ``env_kind`` current: the interpreter tasks run with (None: the agent's own).
    python: str | None = None
    retries: int = 0
    time_limit_s: float | None = None
    grace_s: float = 10.0
    lease_s: float = 60.0
    home: Path = field(default_factory=Path)
    #: The OS user task processes run as (None: the agent's own).
    task_user: TaskUser | None = None

    @property
    def repos(self) -> Path:
        return self.home / "repos"

    @property
    def venvs(self) -> Path:
        return self.home / "venvs"

    @property
    def work(self) -> Path:
        return self.home / "work"

    @property
    def task_home(self) -> Path:
        """``TUNEHOUSE_HOME`` of tasks run as ``task_user`` (its spool), owned by it."""
        return self.home / "task-home"

    def open_to_task_user(self) -> None:
        """Arrange the agent's folders for ``task_user``: it may pass through the home and
        ``work`` (not list them), read the repository cache and the venvs (its tasks
        run from them), and owns ``task-home``; the attempts' folders are handed to it
        one by one (:meth:`Attempt._prepare`)."""
        user = self.task_user
        if user is None:
            return
        self.home.chmod(0o711)
        for folder, mode in ((self.work, 0o711), (self.repos, 0o755), (self.venvs, 0o755)):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(mode)
        self.task_home.mkdir(exist_ok=True)
        user.own(self.task_home)


class Attempt:
    """A claimed task running in ``slot``; :meth:`run` does everything (in its thread)."""

    def __init__(self, store: Store, task: Task, slot: Slot, config: AgentConfig) -> None:
        self.task = task
        self.slot = slot
        self.config = config
        self._agent_store = store
        self.store = _acting_store(store, task)
        self.process: subprocess.Popen[bytes] | None = None
        self._abort_reason: str | None = None
        self._requeue_reason: str | None = None
        self._revoked = threading.Event()
        self._stop = threading.Event()
        self._timed_out = False
        self._signalled = False
        self._key: NewApiKey | None = None
        #: The task was recorded by the clearml SDK: it gets the SDK's variables too.
        self._clearml = False
        #: Set once the attempt's outcome is being recorded: heartbeats leave it out.
        self.ending = threading.Event()
        self.finished = threading.Event()

    @property
    def key(self) -> tuple[str, int]:
        return self.task.id, self.task.attempt

    # ------------------------------------------------------------ requests from outside
    def abort(self, reason: str) -> None:
        """Stop the process; the task ends ``aborted``."""
        if self._abort_reason is None:
            self._abort_reason = reason
        self._stop.set()

    def requeue(self, reason: str) -> None:
        """Stop the process; the task goes back to its queue (the agent is stopping)."""
        self._requeue_reason = reason
        self._stop.set()

    def revoke(self) -> None:
        """The attempt is no longer ours: stop the process and write nothing more."""
        self._revoked.set()
        self._stop.set()

    # ------------------------------------------------------------ the attempt
    def run(self) -> None:
        task = self.task
        console = ConsoleStream(self.store, task.id, task.attempt)
        console.add("log", f"tunehouse agent {self.config.name}: attempt {task.attempt} of "
                           f"task {task.id} in {self.slot.label}")
        space = None
        try:
            try:
                space, python, argv = self._prepare(console)
            except WorkspaceError as exc:
                console.add("log", f"tunehouse agent: {exc}")
                console.close()
                self._finish(None, str(exc), console, retry=False)
                return
            self._execute([python, str(space.entry), *argv], space, console)
        except Exception as exc:  # never lose a claimed task to an agent bug
            log.exception("attempt %s of task %s failed in the agent", task.attempt, task.id)
            console.close(timeout=5)
            self._finish(None, f"the agent failed to run the task: {exc}", console)
        finally:
            if space is not None:
                workspace.remove(space)
            self._revoke_key()
            self.finished.set()

    def _prepare(self, console: ConsoleStream) -> tuple[workspace.Workspace, str, list[str]]:
        """The attempt's code and Python; also the recorded arguments (after the script)."""
        started = time.monotonic()
        script = self.store.tasks.get_script(self.task.id)
        environment = self.store.tasks.get_environment(self.task.id)
        self._clearml = CLEARML_KEY in environment.extra
        if self._clearml and not self.config.settings.server:
            raise WorkspaceError("the task was recorded by the clearml SDK, which talks to a "
                                 "tunehouse server only: run the agent with a server "
                                 "(TUNEHOUSE_SERVER), not on the database")
        folder = self.config.work / f"{self.task.id}.{self.task.attempt}"
        local_root = (environment.extra.get(CODE_ROOT_KEY)
                      if environment.hostname == host_name() else None)
        space = workspace.prepare(self.store, self.task.id, script, folder, self.config.repos,
                                  local_root)
        if self.config.task_user is not None:
            self.config.task_user.own(space.root)
        try:
            python, reused = python_env.interpreter(self.config.env_kind,
                                                    environment.packages, self.config.venvs,
                                                    self.config.python)
        except WorkspaceError:
            workspace.remove(space)
            raise
        source = (f"{script.repository}@{script.commit[:12]}" if script.commit
                  else "the stored script")
        console.add("log", f"tunehouse agent: code from {source}; python {python} "
                           f"({'cached' if reused else 'built'}); ready in "
                           f"{time.monotonic() - started:.2f} s")
        return space, python, script.argv[1:]

    def _execute(self, argv: list[str], space: workspace.Workspace,
                 console: ConsoleStream) -> None:
        """Run ``argv`` (python, entry point, arguments) in the workspace until it ends."""
        if self.config.settings.server:
            try:
                self._key = self._owner_key()
            except TunehouseError as exc:
                console.close()
                self._finish(None, f"the agent could not make a key of the task's owner "
                                   f"{self.store.user} for this attempt: {exc.message}", console)
                return
        if sys.platform == "linux":
            argv = [sys.executable, "-S", "-c", _LAUNCH, str(os.getpid()), *argv]
        user = self.config.task_user
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            argv, cwd=space.cwd, env=self._environment(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            **(user.popen_options() if user is not None else {}))
        assert self.process.stdout is not None and self.process.stderr is not None
        console.follow(self.process.stdout, "stdout")
        console.follow(self.process.stderr, "stderr")
        deadline = (time.monotonic() + self.config.time_limit_s
                    if self.config.time_limit_s else None)
        while True:
            try:
                code = self.process.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if deadline is not None and time.monotonic() > deadline and not self._stop.is_set():
                self._timed_out = True
                self._stop.set()
            if console.stale.is_set():
                self.revoke()
            if self._stop.is_set() and not self._signalled:
                self._terminate()
        console.close()
        self._finish(code, "", console)

    def _terminate(self) -> None:
        """SIGTERM to the process group (SIGINT for a task of the clearml SDK, which
        ignores SIGTERM), SIGKILL after the grace period (in a thread)."""
        self._signalled = True
        process = self.process
        if process is None:
            return
        # the clearml SDK's exit hook swallows SIGTERM when the script has no handler of
        # its own (it returns when the original one is SIG_DFL); on SIGINT it lets
        # KeyboardInterrupt end the script and sends its last reports at exit
        _signal_group(process, signal.SIGINT if self._clearml else signal.SIGTERM)

        def kill_later() -> None:
            try:
                process.wait(timeout=self.config.grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)

        threading.Thread(target=kill_later, daemon=True, name="agent-kill").start()

    def _environment(self) -> dict[str, str]:
        """The task's environment: the agent's (its own credentials were wiped at start,
        and nothing named ``TUNEHOUSE_*`` passes), the slot's devices, the task and
        attempt, and the owner's key made for this attempt (with a server; the store's
        location without one), also as the clearml SDK's variables for a task that SDK
        recorded (``CLEARML_TASK_ID``, hosts and keys). Never the agent's own key."""
        settings = self.config.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
        env.update(self.slot.environment())
        home = settings.home
        if self.config.task_user is not None:
            home = self.config.task_home
            env.update(self.config.task_user.environment(fallback_home=home))
        env.update(TUNEHOUSE_TASK_ID=self.task.id, TUNEHOUSE_TASK_ATTEMPT=str(self.task.attempt),
                   TUNEHOUSE_HOME=str(home), PYTHONUNBUFFERED="1")
        if self._key is not None:  # the owner's key for this attempt: what its owner can do
            env.update(TUNEHOUSE_SERVER=settings.server or "",
                       TUNEHOUSE_ACCESS_KEY=self._key.access_key,
                       TUNEHOUSE_SECRET_KEY=self._key.secret_key)
            if self._clearml:
                env.update(sdk_environment(settings.server or "", self._key.access_key,
                                           self._key.secret_key, self.task.id))
        elif not settings.server:
            env.update(TUNEHOUSE_DB=settings.db, TUNEHOUSE_ARTIFACTS=str(settings.artifacts),
                       TUNEHOUSE_ACT_AS=self.store.user)
        return env

    def _owner_key(self) -> NewApiKey:
        """A key of the task's owner that works for this attempt alone (the server ends it
        with the attempt; the agent also revokes it), so the task's code never holds the
        agent's own key. Retried while the server is away; TunehouseError else."""
        with self._agent_accounts() as accounts:
            return retrying(
                lambda: accounts.keys.create_api_key(
                    self.store.user, for_attempt=(self.task.id, self.task.attempt),
                    description=f"agent {self.config.name}: task {self.task.id} attempt "
                                f"{self.task.attempt}"),
                time.monotonic() + STATUS_RETRY_S,
                retry_on=lambda exc: isinstance(exc, ServerUnavailable))

    def _agent_accounts(self) -> HttpAccounts:
        """The server's account areas as the agent itself (its key, not the owner's)."""
        from tunehouse.client.accounts import HttpAccounts

        settings = self.config.settings
        return HttpAccounts(settings.server or "", settings.access_key or "",
                            settings.secret_key or "")

    def _revoke_key(self) -> None:
        if self._key is None:
            return
        try:
            with self._agent_accounts() as accounts:
                accounts.keys.revoke_api_key(self._key.access_key)
        except TunehouseError as exc:
            log.error("could not revoke the key %s of task %s: %s", self._key.access_key,
                      self.task.id, exc.message)

    # ------------------------------------------------------------ the outcome
    def _finish(self, code: int | None, problem: str, console: ConsoleStream,
                retry: bool = True) -> None:
        """Record how the attempt ended. ``retry=False``: a failure another attempt could
        not fix (the code or the environment cannot be brought back) fails at once."""
        task = self.task
        self.ending.set()
        if self._revoked.is_set():
            log.warning("task %s: attempt %s is no longer this agent's; stopped it", task.id,
                        task.attempt)
            return
        tail = "\n".join(console.tail)[-4000:]
        retries = max(task.max_retries, self.config.retries)
        if self._abort_reason is not None:
            change = StatusChange(status=TaskStatus.aborted, reason=self._abort_reason,
                                  message=tail)
        elif self._requeue_reason is not None:
            change = StatusChange(status=TaskStatus.queued, reason=self._requeue_reason)
        else:
            reason = problem or self._failure(code, console)
            if not reason:
                change = StatusChange(status=TaskStatus.completed, reason="exit code 0")
            elif retry and task.attempt <= retries and task.queue:
                change = StatusChange(status=TaskStatus.queued, message=tail, reason=(
                    f"attempt {task.attempt} failed ({reason}); retry {task.attempt} of "
                    f"{retries}"))
            else:
                change = StatusChange(status=TaskStatus.failed, reason=reason, message=tail)
        self._write_status(change)

    def _failure(self, code: int | None, console: ConsoleStream) -> str:
        """Why the process failed, in words ("" when it did not)."""
        if self._timed_out:
            return f"time limit of {self.config.time_limit_s:g} s exceeded"
        if code == 0:
            return ""
        text = "\n".join(console.tail)
        if any(marker in text for marker in _GPU_OOM):
            kind = "out of GPU memory"
        elif "MemoryError" in text:
            kind = "out of host memory"
        elif code == -signal.SIGKILL:
            kind = "out of host memory? killed by SIGKILL, as the kernel's OOM killer does"
        else:
            kind = ""
        if code is not None and code < 0:
            try:
                exit_text = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                exit_text = f"killed by signal {-code}"
        else:
            exit_text = f"exit code {code}"
        last = console.last_error or next(
            (line for line in reversed(console.tail) if line.strip()), "")
        reason = f"{exit_text} ({kind})" if kind else exit_text
        return f"{reason}: {last}"[:1000] if last else reason

    def _write_status(self, change: StatusChange) -> None:
        try:
            retrying(lambda: self.store.tasks.change_status(self.task.id, change),
                     time.monotonic() + STATUS_RETRY_S,
                     retry_on=lambda exc: isinstance(exc, ServerUnavailable))
        except StaleAttempt as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            if detail.get("current_attempt") == self.task.attempt:
                # the process set its own final status (a search controller does)
                log.info("task %s ended itself as %s", self.task.id, detail.get("status"))
            else:
                log.warning("task %s: attempt %s ended elsewhere; %s not recorded",
                            self.task.id, self.task.attempt, change.status.value)
        except TunehouseError as exc:
            log.error("task %s: could not record %s: %s", self.task.id, change.status.value,
                      exc)


def _acting_store(store: Store, task: Task) -> Store:
    """The store acting for the task's owner (the agent's own identity when the server does
    not let the agent's key act for others), fenced to the attempt."""
    fenced = store.with_fence(task.id, task.attempt)
    if task.user == store.user:
        return fenced
    acting = fenced.with_user(task.user)
    try:
        acting.tasks.get_task(task.id)
    except PermissionDenied as exc:
        log.warning("task %s runs as the agent's user %s, not its owner %s: %s", task.id,
                    store.user, task.user, exc.message)
        return fenced
    return acting


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
