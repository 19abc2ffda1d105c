"""Load and soak: reporting processes through one server on PostgreSQL while the server is
SIGKILLed and restarted again and again.

Each of ``--processes`` training scripts (``Task.init`` + ``report_scalar`` at ``--rate``
scalars per second, iterations 0, 1, 2, ... of one series) runs for ``--minutes``; every
``--kill-every`` seconds the server gets SIGKILL and is started again on the same port and
database. A probe sends a 100-event batch every 0.2 s and times the answers. At the end
each script flushes (the server is up) and prints how many scalars it reported and how
many its reporter saw acknowledged; the benchmark then reads every series back.

Prints: sent, acknowledged, stored, duplicates (stored points beyond the distinct
iterations), the server's peak RSS over all its lives, and the probe's median and p99
latency. Target: stored == acknowledged == sent, 0 duplicates.

Run: ``.venv/bin/python benchmarks/soak.py [--processes 32] [--minutes 10]
[--kill-every 60] [--rate 1000]``. PostgreSQL comes from ``TUNEHOUSE_TEST_PG``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import fresh_postgres  # noqa: E402
from tests.helpers.process_memory import peak_mib  # noqa: E402
from tests.helpers.server import ServerProcess, running_server  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

WORKER = """
    import json, sys, time
    from tunehouse import Task
    name, seconds, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    task = Task.init(project_name="bench/soak", task_name=name,
                     capture={"git": False, "packages": False, "console": False,
                              "resources": False})
    logger = task.get_logger()
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            logger.report_scalar("loss", "train", 1.0 / (sent + 1), sent)
            sent += 1
        time.sleep(0.01)
    task.flush(timeout=600)
    reporter = task._run.reporter
    print(json.dumps({"task": task.id, "sent": sent,
                      "acknowledged": reporter.acknowledged_events}), flush=True)
    task.close()
"""


class Probe(threading.Thread):
    """Times a small event batch every 0.2 s (successful answers only)."""

    def __init__(self, server: ServerProcess, task_id: str) -> None:
        super().__init__(daemon=True)
        self.server, self.task_id = server, task_id
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        iteration = 0
        while not self.stop.wait(0.2):
            body = orjson.dumps({"batch_id": uuid.uuid4().hex, "task_id": self.task_id,
                                 "scalars": [["probe", "p", iteration + i, 1.0, time.time()]
                                             for i in range(100)]})
            iteration += 100
            start = time.perf_counter()
            try:
                response = httpx.post(f"{self.server.url}/api/v1/events", content=body,
                                      auth=(self.server.access_key, self.server.secret_key),
                                      headers={"Content-Type": "application/json"},
                                      timeout=30)
                if response.status_code == 200:
                    self.latencies.append(time.perf_counter() - start)
                else:
                    self.failures += 1
            except httpx.HTTPError:
                self.failures += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--kill-every", type=float, default=60)
    parser.add_argument("--rate", type=float, default=1000, help="scalars/s per process")
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres() as db_url, \
            running_server(Path(tmp) / "server", db_url=db_url) as server:
        script = Path(tmp) / "worker.py"
        script.write_text(textwrap.dedent(WORKER))
        store = server.store()
        from tunehouse.store.records import TaskCreate

        probe_task = store.tasks.create_task(TaskCreate(project="bench/soak", name="probe"))
        env = {**server.client_env(home=Path(tmp) / "client"), "PYTHONPATH": str(REPO_ROOT)}
        workers = [subprocess.Popen([sys.executable, str(script), f"worker {n}", str(seconds),
                                     str(args.rate)], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
                   for n in range(args.processes)]
        probe = Probe(server, probe_task.id)
        probe.start()
        peak = 0
        kills = 0
        start = time.monotonic()
        next_kill = start + args.kill_every
        while time.monotonic() - start < seconds:
            time.sleep(1)
            peak = max(peak, peak_mib(server.proc.pid))
            if time.monotonic() >= next_kill and time.monotonic() - start < seconds - 5:
                server.proc.send_signal(signal.SIGKILL)
                server.proc.wait()
                kills += 1
                server.stop()
                server._start()
                next_kill += args.kill_every
        results = []
        for proc in workers:
            out, _ = proc.communicate(timeout=900)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            results.append(orjson.loads(lines[-1]) if lines else None)
        peak = max(peak, peak_mib(server.proc.pid))
        probe.stop.set()
        probe.join()
        sent = sum(r["sent"] for r in results if r)
        acknowledged = sum(r["acknowledged"] for r in results if r)
        stored = duplicates = 0
        for result in results:
            if not result:
                continue
            for series in store.events.get_scalars(result["task"]):
                stored += series.total
                duplicates += series.total - len(set(series.x))
        store.close()
        latencies = sorted(probe.latencies)
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
        print(f"processes {args.processes}, {args.minutes:g} min, rate {args.rate:g}/s each, "
              f"server SIGKILLed {kills} times (every {args.kill_every:g} s)")
        print(f"workers finished: {sum(1 for r in results if r)} of {len(results)}")
        print(f"sent {sent}  acknowledged {acknowledged}  stored {stored}  "
              f"duplicates {duplicates}")
        print(f"stored == acknowledged: {stored == acknowledged}")
        print(f"server peak RSS {peak} MiB")
        print(f"probe: {len(latencies)} answered, {probe.failures} failed (server down), "
              f"median {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms")
        os.sync()


if __name__ == "__main__":
    main()
