"""Warm trial interpreters: per slot, a Python started ahead of time that has already
imported what the task's base run imported, waiting for the next task (docs/agent.md).

* What to import: ``Environment.extra[WARM_IMPORTS_KEY]`` (:mod:`tunehouse.common.environment_extra`), the top-level modules of
  installed distributions the recording run had imported when it closed (the SDK records
  them; clones copy the environment).
* A :class:`WarmInterpreter` runs :mod:`tunehouse.agent.warm_boot` in the slot's
  environment (the task's variables less those of the attempt: its key, task id and
  attempt number), started like a cold task process: own session, killed with the agent
  (``PR_SET_PDEATHSIG``, :mod:`tunehouse.agent.launch`), as the task user.
* :meth:`WarmPool.take` hands out the slot's waiting interpreter when it was made for the
  same :class:`WarmKey` (interpreter, environment kind, package list, imports) and at once
  starts the next one for the slot with the taken task's key, so that its imports overlap
  the task that just started. Otherwise it says why the task starts cold.
* One task per interpreter: the process exits with its task.

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
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tunehouse.agent.isolation import TaskUser

log = logging.getLogger("tunehouse.agent")

#: A task with this tag always starts in a fresh interpreter.
COLD_START_TAG = "cold-start"
_BOOT = str(Path(__file__).with_name("warm_boot.py"))
#: How long :meth:`WarmPool.take` waits for the pool's thread to start an interpreter.
SPAWN_WAIT_S = 10.0


@dataclass(frozen=True)
class WarmKey:
    """What a waiting interpreter was made for: a task runs in it only when all match."""

    python: str
    env_kind: str
    #: :func:`tunehouse.agent.python_env.env_key` of the task's package list.
    packages: str
    imports: tuple[str, ...]


class WarmInterpreter:
    """One warm process (see the module doc); :meth:`wait_ready`, then :meth:`run_task`."""

    def __init__(self, key: WarmKey) -> None:
        self.key = key
        self.process: subprocess.Popen[bytes] | None = None
        #: ``ready``, ``failed <why>``, or ``exited`` once known.
        self.status: str | None = None
        self._status_known = threading.Event()
        self.spawned = threading.Event()
        self.spawn_error = ""

    def spawn(self, launch: Sequence[str], env: dict[str, str], cwd: Path,
              user: TaskUser | None) -> None:
        """Start the process (from the pool's thread); sets :attr:`spawned`."""
        read_end, write_end = os.pipe()
        try:
            argv = [*launch, self.key.python, _BOOT, str(write_end), *self.key.imports]
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, pass_fds=(write_end,),
                **(user.popen_options() if user is not None else {}))
        except OSError as exc:
            os.close(read_end)
            self.spawn_error = str(exc)
            self._set_status(f"failed could not start {self.key.python}: {exc}")
            return
        finally:
            os.close(write_end)
            self.spawned.set()
        threading.Thread(target=self._read_status, args=(read_end,), daemon=True,
                         name="agent-warm-status").start()

    def _read_status(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as pipe:
            line = pipe.readline().decode("utf-8", errors="replace").strip()
        self._set_status(line or "exited")

    def _set_status(self, status: str) -> None:
        if self.status is None:
            self.status = status
        self._status_known.set()

    def wait_ready(self, stop: Callable[[], bool]) -> str:
        """Wait until the imports are done (or ``stop()`` says to give up): ``ready``,
        ``stopped``, or why the interpreter cannot be used."""
        if not self.spawned.wait(SPAWN_WAIT_S):
            return "the pool did not start the interpreter in time"
        while not self._status_known.wait(0.1):
            if stop():
                return "stopped"
        status = self.status or "exited"
        if status == "ready" and self.process is not None and self.process.poll() is None:
            return status
        if status.startswith("failed "):
            return f"its imports failed: {status[len('failed '):]}"
        return "the interpreter exited before taking the task"

    def run_task(self, entry: Path, argv: list[str], cwd: Path,
                 env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Hand the task to the (ready) interpreter; returns its process, now the task's."""
        process = self.process
        assert process is not None and process.stdin is not None
        spec = json.dumps({"entry": str(entry), "argv": argv, "cwd": str(cwd), "env": env})
        stdin = process.stdin

        def send() -> None:  # a thread: a large environment may fill the pipe
            with contextlib.suppress(OSError):
                stdin.write(spec.encode())
                stdin.close()

        threading.Thread(target=send, daemon=True, name="agent-warm-send").start()
        return process

    def discard(self) -> None:
        """Kill the process group (it ran no task) and reap it."""
        self.spawned.wait(SPAWN_WAIT_S)
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class WarmPool:
    """The waiting interpreters of an agent's slots (see the module doc)."""

    def __init__(self, launch: Sequence[str], cwd: Path, user: TaskUser | None) -> None:
        self._launch = list(launch)
        self._cwd = cwd
        self._user = user
        self._waiting: dict[int, WarmInterpreter] = {}
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
        """The interpreter waiting in ``slot`` when it was made for ``key`` (else None and
        why the task starts cold; ``cold_reason``: the task must start cold anyway).
        Starts the slot's next interpreter for ``key`` (with ``env``) in every case but a
        task without recorded imports."""
        with self._lock:
            if self._closed:
                return None, "the agent is stopping"
            waiting = self._waiting.pop(slot, None)
            if key is not None:
                self._waiting[slot] = WarmInterpreter(key)
                self._requests.put((self._waiting[slot], env))
        if key is None:
            reason = cold_reason or "the task's environment records no imports"
        elif cold_reason:
            reason = cold_reason
        elif waiting is None:
            reason = "no interpreter was waiting in this slot yet"
        elif waiting.key != key:
            reason = f"the waiting interpreter differs: {_difference(waiting.key, key)}"
        else:
            return waiting, ""
        if waiting is not None:
            threading.Thread(target=waiting.discard, daemon=True,
                             name="agent-warm-discard").start()
        return None, reason

    def close(self) -> None:
        """Kill every waiting interpreter and stop the pool's thread."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = list(self._waiting.values()), {}
        self._requests.put(None)
        self._thread.join(timeout=SPAWN_WAIT_S)
        for interpreter in waiting:
            interpreter.discard()


def _difference(old: WarmKey, new: WarmKey) -> str:
    for name, label in (("python", "interpreter"), ("env_kind", "environment kind"),
                        ("packages", "package list"), ("imports", "recorded imports")):
        if getattr(old, name) != getattr(new, name):
            return f"{label} {getattr(old, name)!r} != {getattr(new, name)!r}" \
                if name != "imports" else label
    return "nothing"

