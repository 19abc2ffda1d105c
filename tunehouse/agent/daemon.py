"""The agent daemon: takes tasks from its queues into free slots and runs them.

The main thread long-polls the queues (in the order given) whenever a slot is free; each
claimed task runs as an :class:`~tunehouse.agent.runner.Attempt` in its own thread. A
heartbeat thread reports the worker (host, queues, GPUs, slots, CPU, memory and GPU use)
every :data:`HEARTBEAT_S`, which renews the leases of the running tasks; its answer names
the tasks to abort and those the agent lost (their lease ran out and they went back to
their queue), which are stopped at once.

Signals: a first SIGTERM (or Ctrl-C) stops taking tasks and exits once the running ones
finish; a second one stops them and puts them back in their queues. The signals are
counted by a thread reading Python's wakeup pipe (one byte per signal received), not in a
signal handler: a handler runs in the main thread between two of its bytecodes, where
taking a lock the main thread already holds (an event's, while it waits on it) deadlocks,
and two signals arriving before the handler runs would count as one.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from tunehouse.agent.launch import launch_prefix
from tunehouse.agent.machine import MachineStats, host_name
from tunehouse.agent.runner import AgentConfig, Attempt
from tunehouse.agent.slots import Slot
from tunehouse.agent.warm import WarmPool
from tunehouse.errors import ServerUnavailable, StorageUnavailable, TunehouseError
from tunehouse.store.base import Store
from tunehouse.store.records import StatusChange, TaskStatus, WorkerHeartbeat

log = logging.getLogger("tunehouse.agent")

HEARTBEAT_S = 1.0
#: How long one claim waits for a task (long poll); a signal is noticed after at most this.
CLAIM_WAIT_S = 2.0
#: The signals that stop an agent (first: finish the running tasks; second: requeue them).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


class Agent:
    """Runs tasks from ``config.queues`` in ``slots`` until stopped (see module doc)."""

    def __init__(self, store: Store, config: AgentConfig, slots: list[Slot],
                 gpus: list[str]) -> None:
        self.store = store
        self.config = config
        self.slots = slots
        self.gpus = gpus
        self.host = host_name()
        self._machine = MachineStats(gpus or None)
        self._running: dict[int, Attempt] = {}
        self._lock = threading.Lock()
        self._slot_freed = threading.Event()
        self._stopping = threading.Event()
        self._abort_all = threading.Event()
        self._done = threading.Event()
        self._warm: WarmPool | None = None

    # ------------------------------------------------------------ control
    def stop(self, abort_running: bool = False) -> None:
        """Take no more tasks; with ``abort_running`` also stop the running ones and put
        them back in their queues."""
        if abort_running:
            self._abort_all.set()
            for attempt in self._attempts():
                attempt.requeue(f"the agent {self.config.name} was stopped; back in the queue")
        self._stopping.set()
        self._slot_freed.set()

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: finish running tasks and exit; second: requeue them (call
        from the main thread; see the module doc for why a thread counts the signals)."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in STOP_SIGNALS:
            signal.signal(signum, _ignore_here)

        def count() -> None:
            received = 0
            while True:
                for signum in os.read(read_end, 64):
                    if signum not in STOP_SIGNALS:
                        continue
                    received += 1
                    if received == 1:
                        log.warning("stop signal: taking no more tasks; finishing the running "
                                    "ones (signal again to requeue them)")
                        self.stop()
                    else:
                        log.warning("second stop signal: stopping the running tasks and "
                                    "requeueing them")
                        self.stop(abort_running=True)

        threading.Thread(target=count, daemon=True, name="agent-signals").start()

    # ------------------------------------------------------------ main loop
    def run(self) -> int:
        """Serve until stopped; returns the exit code."""
        log.info("agent %s on %s serving queues %s with %d slot(s): %s", self.config.name,
                 self.host, ", ".join(self.config.queues), len(self.slots),
                 "; ".join(slot.label for slot in self.slots))
        beats = threading.Thread(target=self._heartbeat_loop, daemon=True,
                                 name="agent-heartbeat")
        self._beat()
        beats.start()
        backoff = 0.5
        if self.config.warm:
            self.config.work.mkdir(parents=True, exist_ok=True)
            self._warm = WarmPool(launch_prefix(), self.config.work, self.config.task_user)
        else:
            log.info("warm interpreters are off (--no-warm): every task starts cold")
        try:
            while not self._stopping.is_set():
                slot = self._free_slot()
                if slot is None:
                    self._slot_freed.wait(1.0)
                    self._slot_freed.clear()
                    continue
                try:
                    task = self.store.queues.claim_task(self.config.queues, self.config.name,
                                                        wait_s=CLAIM_WAIT_S,
                                                        lease_s=self.config.lease_s)
                    backoff = 0.5
                except (ServerUnavailable, StorageUnavailable) as exc:
                    log.warning("cannot claim a task: %s; retrying in %.1f s", exc.message,
                                backoff)
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if task is None:
                    continue
                if self._stopping.is_set():
                    self._give_back(task.id, task.attempt)
                    break
                self._start(slot, Attempt(self.store, task, slot, self.config, self._warm))
            self._wait_for_running()
        finally:
            if self._warm is not None:
                self._warm.close()
            self._done.set()
            beats.join(timeout=5)
            self._machine.close()
        return 0

    def _start(self, slot: Slot, attempt: Attempt) -> None:
        log.info("task %s (%s) attempt %d starts in %s", attempt.task.id, attempt.task.name,
                 attempt.task.attempt, slot.label)
        with self._lock:
            self._running[slot.index] = attempt

        def run() -> None:
            try:
                attempt.run()
            finally:
                with self._lock:
                    self._running.pop(slot.index, None)
                log.info("task %s attempt %d ended", attempt.task.id, attempt.task.attempt)
                self._slot_freed.set()
                self._beat()  # tell the server the slot is free at once

        threading.Thread(target=run, daemon=True, name=f"agent-slot-{slot.index}").start()

    def _wait_for_running(self) -> None:
        while self._attempts():
            self._slot_freed.wait(0.5)
            self._slot_freed.clear()

    def _free_slot(self) -> Slot | None:
        with self._lock:
            return next((s for s in self.slots if s.index not in self._running), None)

    def _attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._running.values())

    def _give_back(self, task_id: str, attempt: int) -> None:
        try:
            self.store.with_fence(task_id, attempt).tasks.change_status(task_id, StatusChange(
                status=TaskStatus.queued, reason=f"the agent {self.config.name} is stopping; "
                                                 "back in the queue"))
        except TunehouseError as exc:
            log.error("could not give task %s back to its queue: %s (its lease will run "
                      "out and the server will)", task_id, exc)

    # ------------------------------------------------------------ heartbeats
    def _heartbeat_loop(self) -> None:
        while not self._done.wait(HEARTBEAT_S):
            self._beat()

    def _beat(self) -> None:
        attempts = {a.task.id: a for a in self._attempts() if not a.ending.is_set()}
        beat = WorkerHeartbeat(
            name=self.config.name, host=self.host, queues=self.config.queues, gpus=self.gpus,
            tasks={task_id: a.task.attempt for task_id, a in attempts.items()},
            slots=len(self.slots),
            free_slots=0 if self._stopping.is_set() else len(self.slots) - len(attempts),
            stats=self._machine.sample(), lease_s=self.config.lease_s)
        try:
            reply = self.store.queues.heartbeat(beat)
        except TunehouseError as exc:
            log.warning("heartbeat failed: %s", exc.message)
            return
        for task_id in reply.abort:
            if task_id in attempts:
                log.info("task %s: abort requested", task_id)
                attempts[task_id].abort("aborted on request")
        for task_id in reply.revoked:
            if task_id in attempts and not attempts[task_id].ending.is_set():
                log.warning("task %s: this agent lost its lease; stopping it", task_id)
                attempts[task_id].revoke()


def _ignore_here(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler of the stop signals: nothing (they are counted from the
    wakeup pipe); it replaces the default actions (exit, KeyboardInterrupt)."""
