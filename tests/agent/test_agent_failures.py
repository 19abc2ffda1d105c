"""Agents that die, stop or lose their lease lose no task, and a zombie cannot write."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from tests.agent.conftest import StartAgent, console, script_task, unique, wait_for
from tests.helpers.server import ServerProcess
from tests.helpers.wait import wait_for_file, wait_until
from tunehouse.errors import StaleAttempt
from tunehouse.store.base import Store
from tunehouse.store.records import EventBatch, LogEvent, StatusChange, TaskStatus

SLOW_FIRST_ATTEMPT = textwrap.dedent("""
    import os, sys, time
    attempt = int(os.environ["TUNEHOUSE_TASK_ATTEMPT"])
    open(sys.argv[1] + f".{attempt}.pid", "w").write(str(os.getpid()))
    print("attempt", attempt, "running", flush=True)
    if attempt == 1:
        time.sleep(600)
    print("attempt", attempt, "done", flush=True)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):  # gone, even between the two calls
        return False
    return "zombie" not in status


def _wait_file(path: Path, timeout: float = 60) -> str:
    return wait_for_file(path, timeout, nonempty=True).read_text()


def _wait_line(store: Store, task_id: str, line: str, timeout: float = 30) -> None:
    wait_until(lambda: line in console(store, task_id), timeout,
               f"{line!r} in the console of task {task_id}", interval=0.1)


def test_killed_agent_loses_its_lease_and_another_completes_the_task(
        tmp_path: Path, server: ServerProcess, start_agent: StartAgent) -> None:
    queue = unique("sigkill")
    marker = tmp_path / "marker"
    store = server.store()
    try:
        task_id = script_task(store, SLOW_FIRST_ATTEMPT, argv=[str(marker)])
        store.queues.enqueue(task_id, queue)
        first = start_agent(server, "--queue", queue, "--cpu-only", "--lease", "2")
        child = int(_wait_file(Path(f"{marker}.1.pid")))
        _wait_line(store, task_id, "attempt 1 running")
        first.proc.kill()
        first.wait()
        requeued = wait_for(store, task_id, {TaskStatus.queued}, timeout=30)
        assert requeued.status_reason.startswith(f"worker {first.name} lost")
        wait_until(lambda: not _alive(child), 10, "the dead agent's task process to end")
        second = start_agent(server, "--queue", queue, "--cpu-only", "--lease", "2")
        done = wait_for(store, task_id, timeout=60)
        assert done.status is TaskStatus.completed and done.attempt == 2
        assert done.worker == second.name
        lines = console(store, task_id)
        assert "attempt 1 running" in lines and "attempt 2 done" in lines
        # what the first attempt would still send is refused
        zombie = store.with_fence(task_id, 1)
        with pytest.raises(StaleAttempt):
            zombie.events.add_events(EventBatch(batch_id=unique("late"), task_id=task_id,
                                                logs=[LogEvent("stdout", "late", 0.0)]))
        with pytest.raises(StaleAttempt):
            zombie.tasks.change_status(task_id, StatusChange(status=TaskStatus.failed))
        assert "late" not in console(store, task_id)
    finally:
        store.close()


def test_frozen_agent_is_revoked_and_its_writes_refused(
        tmp_path: Path, server: ServerProcess, start_agent: StartAgent) -> None:
    """A paused agent (as on a network partition) comes back after its task ran elsewhere:
    its heartbeat says the task is no longer its own, and it stops the process."""
    queue = unique("freeze")
    marker = tmp_path / "marker"
    store = server.store()
    try:
        task_id = script_task(store, SLOW_FIRST_ATTEMPT, argv=[str(marker)])
        store.queues.enqueue(task_id, queue)
        frozen = start_agent(server, "--queue", queue, "--cpu-only", "--lease", "2")
        child = int(_wait_file(Path(f"{marker}.1.pid")))
        frozen.signal(signal.SIGSTOP)
        wait_for(store, task_id, {TaskStatus.queued}, timeout=30)
        start_agent(server, "--queue", queue, "--cpu-only", "--lease", "2")
        done = wait_for(store, task_id, timeout=60)
        assert done.status is TaskStatus.completed and done.attempt == 2
        frozen.signal(signal.SIGCONT)
        wait_until(lambda: not _alive(child), 20, "the frozen agent's task process to end")
        # whichever tells it first, the heartbeat's answer ("lost its lease") or a console
        # write refused as stale, the agent stops the attempt and writes nothing more (the
        # line is logged once the attempt's process has ended: wait for it too)
        wait_until(lambda: "is no longer this agent's; stopped it" in frozen.log(), 20,
                   "the frozen agent to say the attempt is no longer its own",
                   seen=lambda: frozen.log()[-600:])
        assert store.tasks.get_task(task_id).status is TaskStatus.completed
    finally:
        store.close()


def test_first_sigterm_finishes_the_running_task(server: ServerProcess,
                                                start_agent: StartAgent) -> None:
    queue = unique("term")
    store = server.store()
    try:
        short = script_task(store, "import time\nprint('started', flush=True)\n"
                                   "time.sleep(2)\nprint('finished')\n")
        store.queues.enqueue(short, queue)
        agent = start_agent(server, "--queue", queue, "--cpu-only")
        # running, not only claimed: a task claimed as the signal comes is given back
        _wait_line(store, short, "started")
        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 0
        assert store.tasks.get_task(short).status is TaskStatus.completed
    finally:
        store.close()


@pytest.mark.parametrize("gap_s", [0.5, 0.05])
def test_a_second_stop_signal_requeues_the_running_task(
        server: ServerProcess, start_agent: StartAgent, gap_s: float) -> None:
    """Each signal the process receives counts, also two 50 ms apart (a quick double
    Ctrl-C), and the agent cannot deadlock on them (a Python signal handler once ran
    inside the main thread's wait on an event and took the lock that wait held). Signals
    sent at the very same instant may reach the process as one: Linux merges a signal
    that is still pending."""
    queue = unique("term")
    store = server.store()
    try:
        endless = script_task(store, "import time\nprint('started', flush=True)\n"
                                     "time.sleep(600)\n")
        store.queues.enqueue(endless, queue)
        agent = start_agent(server, "--queue", queue, "--cpu-only", "--grace", "2")
        _wait_line(store, endless, "started")
        agent.signal(signal.SIGTERM)
        time.sleep(gap_s)
        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 0
        back = store.tasks.get_task(endless)
        assert back.status is TaskStatus.queued and back.queue == queue
        assert "was stopped" in back.status_reason
        assert "second stop signal" in agent.log()
    finally:
        store.close()
