"""The agent: how fast it starts, runs, prepares and stops tasks.

A real server subprocess (``python -m tunehouse server``) and real agents
(``python -m tunehouse agent --cpu-only``, one on ``--env current``, one on ``--env venv``)
run tasks whose script is stored as text (no git). Measured:

* enqueue-to-start latency: an idle agent waits in its long poll; the task's script writes
  ``time.time()`` to a file as its first statement; latency = that time minus the time
  just before ``enqueue`` (median of several);
* throughput: ``--tasks`` no-op tasks (``pass``) through one agent, from the first enqueue
  to the last ``completed``;
* preparation of a cached venv: the "ready in X s" the agent writes in the task's console
  (``--env venv``, empty package list), the first (built) and the cached ones (median);
* abort-to-exit: a task looping forever, ``request_abort``, time until its status is
  ``aborted`` (polled every 20 ms; median of several).

Run: ``.venv/bin/python benchmarks/agent.py [--runs 7] [--tasks 50] [--venv-runs 3]
[--abort-runs 5]``.
Targets: latency <= 0.5 s, >= 5 tasks/s, cached venv ready in <= 2 s, abort <= 2 s.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.server import ServerProcess, running_server  # noqa: E402
from tests.helpers.wait import wait_until  # noqa: E402
from tunehouse.client.http import HttpStore  # noqa: E402
from tunehouse.store.records import Script, TaskCreate, TaskQuery, TaskStatus  # noqa: E402

PROJECT = "bench/agent"
ENDED = (TaskStatus.completed, TaskStatus.failed, TaskStatus.aborted)
READY = re.compile(r"ready in ([0-9.]+) s")


class AgentProcess:
    """``tunehouse agent`` in a subprocess, with a home and a log of its own."""

    def __init__(self, server: ServerProcess, folder: Path, name: str, queue: str,
                 *extra: str) -> None:
        folder.mkdir(parents=True)
        self.log_path = folder / "agent.log"
        self.name = name
        command = [sys.executable, "-m", "tunehouse", "agent", "--server", server.url,
                   "--queue", queue, "--cpu-only", "--name", name, *extra]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=folder,
                                         env=server.client_env(home=folder / "home"))

    def wait_registered(self, store: HttpStore, timeout: float = 60.0) -> None:
        wait_for(f"agent {self.name} to register",
                 lambda: any(w.name == self.name for w in store.queues.list_workers()),
                 self, timeout, every=0.1)
        time.sleep(0.5)  # let it enter its first long poll

    def check(self) -> None:
        if self.proc.poll() is not None:
            self.fail(f"agent {self.name} exited with {self.proc.returncode}")

    def fail(self, why: str) -> None:
        tail = self.log_path.read_text(errors="replace")[-4000:]
        raise SystemExit(f"{why}\n--- agent log (tail) ---\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"agent {self.name} did not exit 15 s after SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait(timeout=15)


def new_task(store: HttpStore, name: str, code: str, project: str = PROJECT) -> str:
    task = store.tasks.create_task(TaskCreate(project=project, name=name))
    store.tasks.set_script(task.id, Script(entry_point="probe.py", script_text=code,
                                           argv=["probe.py"]))
    return task.id


def wait_for(what: str, ready: Callable[[], object], agent: AgentProcess,
             timeout: float = 120.0, every: float = 0.02) -> object:
    """``ready()``'s first truthy value; on a timeout, stop with the agent's log."""
    try:
        return wait_until(ready, timeout, what, interval=every, check=agent.check)
    except AssertionError as exc:
        agent.fail(str(exc))
        return None


def has_ended(store: HttpStore, task_id: str) -> Callable[[], bool]:
    return lambda: store.tasks.get_task(task_id).status in ENDED


def wait_ended(store: HttpStore, task_id: str, agent: AgentProcess,
               want: TaskStatus = TaskStatus.completed) -> None:
    wait_for(f"task {task_id} to end", has_ended(store, task_id), agent)
    task = store.tasks.get_task(task_id)
    if task.status != want:
        agent.fail(f"task {task_id} ended {task.status.value}, not {want.value}: "
                   f"{task.status_reason}")


def bench_latency(store: HttpStore, agent: AgentProcess, queue: str, folder: Path,
                  runs: int) -> list[float]:
    latencies = []
    for run in range(runs + 1):
        stamp = folder / f"start-{run}.txt"
        code = (f"import time; open({str(stamp)!r}, 'w').write(repr(time.time()))\n"
                "import sys\n")
        task_id = new_task(store, f"latency {run}", code)
        time.sleep(0.3)  # the agent is back in its long poll
        before = time.time()
        store.queues.enqueue(task_id, queue)
        wait_ended(store, task_id, agent)
        if run:  # the first run warms up
            latencies.append(float(stamp.read_text()) - before)
    return latencies


def bench_throughput(store: HttpStore, agent: AgentProcess, queue: str,
                     count: int) -> tuple[float, float]:
    project = f"{PROJECT}/noop"
    ids = [new_task(store, f"noop {i}", "pass\n", project) for i in range(count)]
    time.sleep(0.3)
    start = time.time()
    for task_id in ids:
        store.queues.enqueue(task_id, queue)

    def all_ended() -> bool:
        return store.tasks.list_tasks(TaskQuery(project=project, status=list(ENDED),
                                                limit=1)).total >= count

    wait_for(f"{count} no-op tasks", all_ended, agent, timeout=600, every=0.05)
    tasks = [store.tasks.get_task(t) for t in ids]
    bad = [t for t in tasks if t.status != TaskStatus.completed]
    if bad:
        agent.fail(f"{len(bad)} no-op task(s) did not complete, e.g. {bad[0].id}: "
                   f"{bad[0].status.value} {bad[0].status_reason}")
    last = max(t.completed.timestamp() for t in tasks if t.completed is not None)
    return count / (last - start), last - start


def ready_seconds(store: HttpStore, task_id: str) -> tuple[float, str]:
    for line in store.events.get_logs(task_id):
        if line.text.startswith("tunehouse agent: code from"):
            found = READY.search(line.text)
            if found:
                return float(found.group(1)), line.text
    raise SystemExit(f"no 'ready in' line in the console of task {task_id}")


def bench_venv(store: HttpStore, agent: AgentProcess, queue: str,
               runs: int) -> tuple[float, list[float], str]:
    figures = []
    line = ""
    for run in range(runs + 1):
        task_id = new_task(store, f"venv {run}", "pass\n")
        store.queues.enqueue(task_id, queue)
        wait_ended(store, task_id, agent)
        seconds, line = ready_seconds(store, task_id)
        figures.append(seconds)
    return figures[0], figures[1:], line


def bench_abort(store: HttpStore, agent: AgentProcess, queue: str, folder: Path,
                runs: int) -> list[float]:
    times = []
    for run in range(runs):
        marker = folder / f"looping-{run}"
        code = (f"open({str(marker)!r}, 'w').close()\n"
                "import time\nwhile True:\n    time.sleep(0.05)\n")
        task_id = new_task(store, f"abort {run}", code)
        store.queues.enqueue(task_id, queue)
        wait_for(f"task {task_id} to start looping", marker.exists, agent)
        time.sleep(0.5 + 0.23 * run)  # spread the request over the heartbeat period
        start = time.perf_counter()
        store.tasks.request_abort(task_id, "benchmark")
        wait_for(f"task {task_id} to be aborted", has_ended(store, task_id), agent,
                 timeout=60)
        times.append(time.perf_counter() - start)
        task = store.tasks.get_task(task_id)
        if task.status != TaskStatus.aborted:
            agent.fail(f"task {task_id} ended {task.status.value}: {task.status_reason}")
        wait_for("the slot to be free", lambda: not any(
            w.tasks for w in store.queues.list_workers() if w.name == agent.name),
            agent, timeout=30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="latency runs (default 7)")
    parser.add_argument("--tasks", type=int, default=50, help="no-op tasks (default 50)")
    parser.add_argument("--venv-runs", type=int, default=3,
                        help="cached venv runs after the first build (default 3)")
    parser.add_argument("--abort-runs", type=int, default=5, help="abort runs (default 5)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-") as tmp:
        root = Path(tmp)
        with running_server(root / "server") as server:
            store = server.store()
            current = AgentProcess(server, root / "agent-current", "bench-current",
                                   "bench-current", "--grace", "5")
            venv = AgentProcess(server, root / "agent-venv", "bench-venv", "bench-venv",
                                "--env", "venv")
            try:
                current.wait_registered(store)
                venv.wait_registered(store)

                latencies = bench_latency(store, current, "bench-current", root, args.runs)
                print(f"enqueue-to-start latency: median {statistics.median(latencies):.3f} s, "
                      f"max {max(latencies):.3f} s over {len(latencies)} runs "
                      f"(target <= 0.5 s)")

                rate, elapsed = bench_throughput(store, current, "bench-current", args.tasks)
                print(f"no-op tasks through one agent (--env current): {rate:.1f} tasks/s "
                      f"({args.tasks} in {elapsed:.2f} s, first enqueue to last completed; "
                      f"target >= 5/s)")

                built, cached, line = bench_venv(store, venv, "bench-venv", args.venv_runs)
                if cached:
                    print(f"venv ready (cached, --env venv, no packages): median "
                          f"{statistics.median(cached):.2f} s over {len(cached)} runs "
                          f"(first build {built:.2f} s; target <= 2 s)")
                print(f"  console: {line}")

                aborts = bench_abort(store, current, "bench-current", root, args.abort_runs)
                if aborts:
                    print(f"abort-to-exit: median {statistics.median(aborts):.3f} s, "
                          f"max {max(aborts):.3f} s over {len(aborts)} runs "
                          f"(target <= 2 s)")
            finally:
                current.stop()
                venv.stop()
                store.close()


if __name__ == "__main__":
    main()
