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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tunehouse.agent import python_env, workspace
from tunehouse.agent.console import ConsoleStream
from tunehouse.agent.isolation import TaskUser
from tunehouse.agent.launch import launch_prefix
from tunehouse.agent.machine import host_name
from tunehouse.agent.slots import Slot
from tunehouse.agent.warm import (
    COLD_START_TAG,
    ForkedTask,
    WarmInterpreter,
    WarmKey,
    WarmPool,
)
from tunehouse.agent.workspace import WorkspaceError
from tunehouse.common.clearml import sdk_environment
from tunehouse.common.environment_extra import (
    CLEARML_KEY,
    CODE_ROOT_KEY,
    WARM_IMPORTS_KEY,
    modules_in_folder,
)
from tunehouse.common.retry import retrying
from tunehouse.errors import PermissionDenied, ServerUnavailable, StaleAttempt, TunehouseError
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import Environment, NewApiKey, StatusChange, Task, TaskStatus

if TYPE_CHECKING:
    from tunehouse.client.accounts import HttpAccounts

log = logging.getLogger("tunehouse.agent")

#: How long the final status is retried while the server is unreachable.
STATUS_RETRY_S = 120.0
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
    #: Run tasks in warm interpreters (:mod:`tunehouse.agent.warm`) where they can.
    warm: bool = True

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

    def __init__(self, store: Store, task: Task, slot: Slot, config: AgentConfig,
                 warm: WarmPool | None = None) -> None:
        self.task = task
        self.warm = warm
        self._recorded = Environment()
        self.slot = slot
        self.config = config
        self._agent_store = store
        self.store = _acting_store(store, task)
        self.process: subprocess.Popen[bytes] | ForkedTask | None = None
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
            self._execute(python, space, argv, console)
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
        self._recorded = environment
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

    def _execute(self, python: str, space: workspace.Workspace, argv: list[str],
                 console: ConsoleStream) -> None:
        """Run the entry point with ``python`` and ``argv`` (after the script) in the
        workspace until it ends: forked by a warm interpreter when one fits, else in a
        fresh process."""
        if self.config.settings.server:
            try:
                self._key = self._owner_key()
            except TunehouseError as exc:
                console.close()
                self._finish(None, f"the agent could not make a key of the task's owner "
                                   f"{self.store.user} for this attempt: {exc.message}", console)
                return
        deadline = (time.monotonic() + self.config.time_limit_s
                    if self.config.time_limit_s else None)

        def stopping() -> bool:
            if deadline is not None and time.monotonic() > deadline and not self._stop.is_set():
                self._timed_out = True
                self._stop.set()
            return self._stop.is_set()

        env = self._environment()
        warm = self._warm_interpreter(python, space, console)
        if warm is not None:
            state = warm.wait_ready(stopping)
            if state == "stopped":  # aborted or out of time while it still imported
                console.close()
                self._finish(None, "", console)
                return
            if state != "ready":  # the pool lets it go on the next task's take
                self._note_start(console, f"cold start: the warm interpreter cannot be "
                                          f"used: {state}")
                warm = None
        if warm is not None:
            self.process = warm.run_task(space.entry, argv, space.cwd, env)
            if self.process is not None:
                self._note_start(console, f"warm start: forked from an interpreter that had "
                                          f"imported {len(warm.key.imports)} module(s)")
            else:
                self._note_start(console, "cold start: the warm interpreter did not fork "
                                          "the task")
        if self.process is None:
            user = self.config.task_user
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                [*launch_prefix(), python, str(space.entry), *argv], cwd=space.cwd, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, **(user.popen_options() if user is not None else {}))
        assert self.process.stdout is not None and self.process.stderr is not None
        console.follow(self.process.stdout, "stdout")
        console.follow(self.process.stderr, "stderr")
        while True:
            try:
                code = self.process.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            stopping()
            if console.stale.is_set():
                self.revoke()
            if self._stop.is_set() and not self._signalled:
                self._terminate()
        console.close()
        self._finish(code, "", console)

    def _warm_interpreter(self, python: str, space: workspace.Workspace,
                          console: ConsoleStream) -> WarmInterpreter | None:
        """The warm interpreter made for this task's environment (None: start cold, and
        why is in the agent's log and the console; the pool starts one for the next task
        of this environment); its imports may still run."""
        if self.warm is None:
            return None
        recorded = self._recorded.extra.get(WARM_IMPORTS_KEY)
        imports = tuple(name for name in recorded if isinstance(name, str)
                        and name.isidentifier()) if isinstance(recorded, list) else ()
        key = WarmKey(python, self.config.env_kind,
                      python_env.env_key(self._recorded.packages), imports) if imports else None
        cold = ""
        if COLD_START_TAG in self.task.tags:
            cold = f"the task has the tag {COLD_START_TAG}"
        elif key is not None and (shadowed := modules_in_folder(imports, space.entry.parent)):
            cold = (f"the script's folder has modules named as recorded imports "
                    f"({', '.join(shadowed)})")
            key = None
        interpreter, reason = self.warm.take(
            self.slot.index, key, base_environment(self.config, self.slot), cold)
        if interpreter is None:
            self._note_start(console, f"cold start: {reason}")
        return interpreter

    def _note_start(self, console: ConsoleStream, text: str) -> None:
        log.info("task %s attempt %d: %s", self.task.id, self.task.attempt, text)
        console.add("log", f"tunehouse agent: {text}")

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
        """The task's environment: :func:`base_environment`, the task and attempt, and the
        owner's key made for this attempt (with a server; the store's location without
        one), also as the clearml SDK's variables for a task that SDK recorded
        (``CLEARML_TASK_ID``, hosts and keys). Never the agent's own key."""
        settings = self.config.settings
        env = base_environment(self.config, self.slot)
        env.update(TUNEHOUSE_TASK_ID=self.task.id, TUNEHOUSE_TASK_ATTEMPT=str(self.task.attempt),
                   TUNEHOUSE_HOME=str(self.config.task_home if self.config.task_user is not None
                                      else settings.home))
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
            env.update(_s3_environment(settings))
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


def base_environment(config: AgentConfig, slot: Slot) -> dict[str, str]:
    """What every task process in ``slot`` starts with, warm interpreters included: the
    agent's environment (its own credentials were wiped at start, and nothing named
    ``TUNEHOUSE_*`` passes), the slot's devices, the task user's ``HOME`` and names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    env.update(slot.environment())
    if config.task_user is not None:
        env.update(config.task_user.environment(fallback_home=config.task_home))
    env["PYTHONUNBUFFERED"] = "1"
    return env


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


def _signal_group(process: subprocess.Popen[bytes] | ForkedTask, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _s3_environment(settings: Settings) -> dict[str, str]:
    """The ``TUNEHOUSE_S3_*`` settings that are set, as variables, for a task writing into
    an embedded store whose blobs are in S3 (its data directory may not be the agent's)."""
    if not settings.artifacts.lower().startswith("s3://"):
        return {}
    values = {"TUNEHOUSE_S3_ENDPOINT_URL": settings.s3_endpoint_url,
              "TUNEHOUSE_S3_REGION": settings.s3_region,
              "TUNEHOUSE_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
              "TUNEHOUSE_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key,
              "TUNEHOUSE_S3_PART_MB": str(settings.s3_part_mb)}
    return {name: value for name, value in values.items() if value}
