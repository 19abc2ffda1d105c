"""Warm interpreters: a Python per task environment that has already imported what the
task's base run imported, and forks a fresh process for each task (docs/agent.md).

* What to import: ``Environment.extra[WARM_IMPORTS_KEY]`` (:mod:`tunehouse.common.environment_extra`), the top-level modules of
  installed distributions the recording run had imported when it closed (the SDK records
  them; clones copy the environment).
* A :class:`WarmInterpreter` runs :mod:`tunehouse.agent.warm_boot` in the environment a
  slot gives its tasks (the task's variables less those of the attempt: its key, task id
  and attempt number), started like a cold task process: own session, killed with the
  agent (``PR_SET_PDEATHSIG``, :mod:`tunehouse.agent.launch`), as the task user. It
  imports once; then each task it is handed runs in a process it forks
  (:class:`ForkedTask`, which the runner uses as it uses a :class:`subprocess.Popen`), a
  copy of the interpreter as it was after the imports: one task per process, nothing a
  task leaves in memory reaches the next, and no task pays for the imports again.
* :meth:`WarmPool.take` hands out the interpreter made for the task's :class:`WarmKey`
  (interpreter, environment kind, package list, imports) and its slot's environment
  (slots with the same environment, CPU slots, share one), starting it when there is
  none yet: that task starts cold, and the next ones wait for the imports if they are
  still running. An interpreter no slot's latest task needs any more is let go.

The interpreters are started from one long-lived thread of the pool:
``PR_SET_PDEATHSIG`` fires when the *thread* that started a process ends, and an attempt's
thread ends with its attempt, long before the interpreter it would have started is used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tunehouse.agent.isolation import TaskUser

log = logging.getLogger("tunehouse.agent")

#: A task with this tag always starts in a fresh interpreter.
COLD_START_TAG = "cold-start"
_BOOT = str(Path(__file__).with_name("warm_boot.py"))
#: How long :meth:`WarmPool.take` waits for the pool's thread to start an interpreter.
SPAWN_WAIT_S = 10.0
#: How long :meth:`WarmInterpreter.run_task` waits for the interpreter to fork.
FORK_WAIT_S = 10.0


@dataclass(frozen=True)
class WarmKey:
    """What a warm interpreter was made for: a task is forked from it only when all match."""

    python: str
    env_kind: str
    #: :func:`tunehouse.agent.python_env.env_key` of the task's package list.
    packages: str
    imports: tuple[str, ...]


class ForkedTask:
    """A task process forked by a :class:`WarmInterpreter`: the part of
    :class:`subprocess.Popen` the runner uses (``pid``, ``stdout``, ``stderr``, ``wait``,
    ``returncode``); its exit code comes from the interpreter, whose child it is."""

    def __init__(self, pid: int, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"task process {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def end(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._ended.set()


class WarmInterpreter:
    """One warm process (see the module doc): :meth:`wait_ready`, then :meth:`run_task`
    for each task."""

    def __init__(self, key: WarmKey) -> None:
        self.key = key
        self.process: subprocess.Popen[bytes] | None = None
        #: ``ready``, ``failed <why>``, or ``exited`` once known.
        self.status: str | None = None
        self._status_known = threading.Event()
        self.spawned = threading.Event()
        self.spawn_error = ""
        self._control: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._replies: queue.Queue[int | None] = queue.Queue()
        self._tasks: dict[int, ForkedTask] = {}
        self._early_exits: dict[int, int] = {}
        self._tasks_lock = threading.Lock()
        self._gone = threading.Event()

    def spawn(self, launch: Sequence[str], env: dict[str, str], cwd: Path,
              user: TaskUser | None) -> None:
        """Start the process (from the pool's thread); sets :attr:`spawned`."""
        read_end, write_end = os.pipe()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            argv = [*launch, self.key.python, _BOOT, str(write_end), str(theirs.fileno()),
                    *self.key.imports]
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(write_end, theirs.fileno()),
                **(user.popen_options() if user is not None else {}))
        except OSError as exc:
            os.close(read_end)
            ours.close()
            self.spawn_error = str(exc)
            self._set_status(f"failed could not start {self.key.python}: {exc}")
            self._gone.set()
            return
        finally:
            os.close(write_end)
            theirs.close()
            self.spawned.set()
        self._control = ours
        threading.Thread(target=self._read_status, args=(read_end,), daemon=True,
                         name="agent-warm-status").start()
        threading.Thread(target=self._read_control, daemon=True,
                         name="agent-warm-control").start()

    def _read_status(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as pipe:
            line = pipe.readline().decode("utf-8", errors="replace").strip()
        self._set_status(line or "exited")

    def _set_status(self, status: str) -> None:
        if self.status is None:
            self.status = status
        self._status_known.set()

    def _read_control(self) -> None:
        """The interpreter's answers: ``pid N`` to a task sent, ``exit N CODE`` when a
        task's process ends. At the end (the interpreter is gone, and with it, by
        ``PR_SET_PDEATHSIG``, its tasks), every task still running ends killed."""
        control = self._control
        assert control is not None
        while True:
            try:
                message = control.recv(256).decode()
            except OSError:
                message = ""
            if not message:
                break
            kind, _, rest = message.partition(" ")
            if kind == "pid":
                self._replies.put(int(rest))
            elif kind == "exit":
                pid_text, _, code_text = rest.partition(" ")
                self._ended(int(pid_text), int(code_text))
        self._gone.set()
        self._replies.put(None)
        with self._tasks_lock:
            running = list(self._tasks.values())
        for task in running:
            task.end(-signal.SIGKILL)

    def _ended(self, pid: int, code: int) -> None:
        with self._tasks_lock:
            task = self._tasks.pop(pid, None)
            if task is None:
                self._early_exits[pid] = code
        if task is not None:
            task.end(code)

    def wait_ready(self, stop: Callable[[], bool]) -> str:
        """Wait until the imports are done (or ``stop()`` says to give up): ``ready``,
        ``stopped``, or why the interpreter cannot be used."""
        if not self.spawned.wait(SPAWN_WAIT_S):
            return "the pool did not start the interpreter in time"
        while not self._status_known.wait(0.1):
            if stop():
                return "stopped"
        return "ready" if self.status == "ready" and self.usable else self.why_unusable()

    def why_unusable(self) -> str:
        """Why it cannot run tasks (its imports failed, it exited)."""
        status = self.status or ""
        if status.startswith("failed "):
            return f"its imports failed: {status[len('failed '):]}"
        return "the interpreter exited"

    @property
    def usable(self) -> bool:
        """Whether it may still run tasks (imports running or done, process alive)."""
        return (not self._gone.is_set() and self.status in (None, "ready")
                and (self.process is None or self.process.poll() is None))

    def run_task(self, entry: Path, argv: list[str], cwd: Path,
                 env: dict[str, str]) -> ForkedTask | None:
        """Fork a process for the task in the (ready) interpreter: its handle, or None
        when the interpreter did not answer (the task then starts cold)."""
        control = self._control
        if control is None or self._gone.is_set():
            return None
        spec = json.dumps({"entry": str(entry), "argv": argv, "cwd": str(cwd),
                           "env": env}).encode()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            with self._send_lock:
                try:
                    socket.send_fds(control, [spec], [out_write, err_write])
                    pid = self._replies.get(timeout=FORK_WAIT_S)
                except (OSError, queue.Empty):
                    pid = None
        finally:
            os.close(out_write)
            os.close(err_write)
        if pid is None:
            os.close(out_read)
            os.close(err_read)
            return None
        task = ForkedTask(pid, os.fdopen(out_read, "rb"), os.fdopen(err_read, "rb"))
        with self._tasks_lock:
            early = self._early_exits.pop(pid, None)
            if early is None:
                self._tasks[pid] = task
        if early is not None:
            task.end(early)
        return task

    def discard(self) -> None:
        """Let it go: it exits once its running tasks have ended (at once without any,
        killed if it still imports)."""
        self.spawned.wait(SPAWN_WAIT_S)
        process, control = self.process, self._control
        if control is not None:
            with contextlib.suppress(OSError):
                control.shutdown(socket.SHUT_RDWR)
        if process is None:
            return
        with self._tasks_lock:
            busy = bool(self._tasks)
        if not busy and self.status != "ready":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        threading.Thread(target=self._reap, daemon=True, name="agent-warm-reap").start()

    def _reap(self) -> None:
        process = self.process
        assert process is not None
        process.wait()
        if self._control is not None:
            self._control.close()


class WarmPool:
    """The warm interpreters of an agent (see the module doc)."""

    def __init__(self, launch: Sequence[str], cwd: Path, user: TaskUser | None) -> None:
        self._launch = list(launch)
        self._cwd = cwd
        self._user = user
        self._interpreters: dict[_Made, WarmInterpreter] = {}
        self._slot_made: dict[int, _Made | None] = {}
        self._lock = threading.Lock()
        self._requests: queue.Queue[tuple[WarmInterpreter, dict[str, str]] | None] = \
            queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._spawn_loop, daemon=True,
                                        name="agent-warm-pool")
        self._thread.start()

    def _spawn_loop(self) -> None:
        while (request := self._requests.get()) is not None:
            interpreter, env = request
            interpreter.spawn(self._launch, env, self._cwd, self._user)
            if interpreter.spawn_error:
                log.warning("warm interpreter: %s", interpreter.spawn_error)

    def take(self, slot: int, key: WarmKey | None, env: dict[str, str],
             cold_reason: str = "") -> tuple[WarmInterpreter | None, str]:
        """The interpreter made for ``key`` and the slot's environment ``env`` (else None
        and why the task starts cold; ``cold_reason``: the task must start cold anyway).
        Starts one for them when there is none, except for a task without recorded
        imports."""
        let_go: list[WarmInterpreter] = []
        with self._lock:
            if self._closed:
                return None, "the agent is stopping"
            made = None if key is None else _Made(key, frozenset(env.items()))
            self._slot_made[slot] = made
            interpreter = None if made is None else self._interpreters.get(made)
            broken = ""
            if interpreter is not None and not interpreter.usable:
                broken = interpreter.why_unusable()
                let_go.append(self._interpreters.pop(made))  # type: ignore[arg-type]
                interpreter = None
            started = False
            if made is not None and interpreter is None:
                assert key is not None
                self._interpreters[made] = WarmInterpreter(key)
                self._requests.put((self._interpreters[made], env))
                started = True
            needed = set(self._slot_made.values())
            for other in [m for m in self._interpreters if m not in needed]:
                let_go.append(self._interpreters.pop(other))
        for old in let_go:
            threading.Thread(target=old.discard, daemon=True, name="agent-warm-discard").start()
        if key is None:
            return None, cold_reason or "the task's environment records no imports"
        if cold_reason:
            return None, cold_reason
        if broken:
            return None, f"the warm interpreter cannot be used: {broken}"
        if started:
            return None, "no warm interpreter was made for this environment yet"
        return interpreter, ""

    def close(self) -> None:
        """Let every interpreter go and stop the pool's thread."""
        with self._lock:
            self._closed = True
            interpreters, self._interpreters = list(self._interpreters.values()), {}
        self._requests.put(None)
        self._thread.join(timeout=SPAWN_WAIT_S)
        for interpreter in interpreters:
            interpreter.discard()


@dataclass(frozen=True)
class _Made:
    """What an interpreter of the pool was made for: the task's key and the environment
    of the slot that asked first (slots of the same environment share it)."""

    key: WarmKey
    env: frozenset[tuple[str, str]]
