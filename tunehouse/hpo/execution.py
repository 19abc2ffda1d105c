"""Where the trials run. Both ways share one path (enqueue, watch, abort):

* :class:`QueueExecution` – the children go to ``execution_queue``; agents serving it run
  them (on this machine or others).
* :class:`LocalExecution` – ``local=N``: the controller runs an agent of its own in a
  thread of its process (:class:`tunehouse.agent.daemon.Agent`, N CPU slots, the current
  Python) serving a private queue named after the controller, over the same store. The
  trials are subprocesses of the controller and die with it (the agent's
  ``PR_SET_PDEATHSIG``).

The local agent's worker name, ``hpo-local-<controller id[:12]>-<pid>.<n>@<host>``, tells a
resumed controller on the same host at once whether the process that ran a child is gone
(:func:`worker_gone`), without waiting for its lease to run out.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading

from tunehouse.agent.daemon import Agent
from tunehouse.agent.machine import host_name
from tunehouse.agent.runner import AgentConfig
from tunehouse.agent.slots import plan_slots
from tunehouse.agent.workspace import check_folder
from tunehouse.errors import Conflict, TunehouseError
from tunehouse.settings import Settings
from tunehouse.store.base import Store

log = logging.getLogger("tunehouse.hpo")

#: Lease of the local agent's tasks: renewed every second while it runs them.
LOCAL_LEASE_S = 10.0
#: Between SIGTERM and SIGKILL when the local agent stops a trial.
LOCAL_GRACE_S = 5.0
LOCAL_PREFIX = "hpo-local-"

#: Names of the local agents running in this process (a worker of this process whose
#: name is not here is gone).
_LIVE_AGENTS: set[str] = set()
_LIVE_LOCK = threading.Lock()
_SERIAL = itertools.count(1)  # agents of one search in one process get distinct names


class Execution:
    """Runs children put in :attr:`queue` (see the module doc)."""

    queue: str
    #: The name of the agent this controller runs itself, if any.
    worker: str | None = None

    def start(self) -> None:
        """Begin serving (nothing for a shared queue)."""

    def close(self) -> None:
        """Stop serving; trials still running are put back in the queue."""


class QueueExecution(Execution):
    """Children run by whatever agents serve ``queue``."""

    def __init__(self, store: Store, queue: str) -> None:
        self.queue = queue
        store.queues.get_or_create_queue(queue)


class LocalExecution(Execution):
    """``slots`` trials at a time in this process's own agent (see the module doc)."""

    def __init__(self, store: Store, settings: Settings, controller_id: str,
                 slots: int, warm: bool = True) -> None:
        self.queue = f"hpo-{controller_id[:12]}"
        self.worker = (f"{LOCAL_PREFIX}{controller_id[:12]}-{os.getpid()}.{next(_SERIAL)}"
                       f"@{host_name()}")
        self._store = store
        config = AgentConfig(name=self.worker, queues=[self.queue], settings=settings,
                             env_kind="current", lease_s=LOCAL_LEASE_S,
                             grace_s=LOCAL_GRACE_S, warm=warm,
                             home=check_folder(settings.home / "agent"))
        self._agent = Agent(store, config, plan_slots([], cpu_slots=slots), [])
        self._thread: threading.Thread | None = None
        store.queues.get_or_create_queue(self.queue)

    def start(self) -> None:
        with _LIVE_LOCK:
            _LIVE_AGENTS.add(self.worker or "")
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"hpo-agent-{self.queue}")
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._agent.run()
        except Exception:  # the controller notices: its children are lost
            log.exception("the local agent %s stopped", self.worker)
        finally:
            with _LIVE_LOCK:
                _LIVE_AGENTS.discard(self.worker or "")

    def close(self) -> None:
        if self._thread is None:
            return
        self._agent.stop(abort_running=True)
        self._thread.join(timeout=LOCAL_GRACE_S + 10)
        self._thread = None
        try:
            self._store.queues.delete_queue(self.queue)
        except Conflict:
            pass  # children wait in it (a stopped search): a resume serves them
        except TunehouseError as exc:
            log.warning("could not remove the queue %s: %s", self.queue, exc.message)


def worker_gone(worker: str | None, controller_id: str) -> bool:
    """Whether ``worker`` is a local agent of this search whose process is known to be
    gone: on this host, its pid is not running (or is this process, where that agent no
    longer runs)."""
    prefix = f"{LOCAL_PREFIX}{controller_id[:12]}-"
    if not worker or not worker.startswith(prefix):
        return False
    process, _, host = worker[len(prefix):].partition("@")
    pid_text = process.partition(".")[0]
    if host != host_name() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        with _LIVE_LOCK:
            return worker not in _LIVE_AGENTS
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (a zombie, killed and not yet reaped
    by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
