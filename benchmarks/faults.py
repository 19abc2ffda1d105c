"""Figures for three of the reliability cases (docs/reliability.md): the server's memory under
event batches near its size limit and under other large JSON bodies, and what a training
script loses when its spool cannot be written while the server is away.

``--case memory`` starts a real server (SQLite, then PostgreSQL from ``TUNEHOUSE_TEST_PG``),
posts one 63 MiB batch (1,600,000 scalars), then four 43 MiB batches at once, and prints the
server's resident memory before, at its peak (``VmHWM`` reset before each case) and after.
Target: a 64 MiB batch adds <= 300 MiB and the memory comes back.

``--case bodies`` starts a real server the same way and sends eight 60 MiB bodies at once,
each to a task of its own, on a server restarted for each kind: ``PUT
/tasks/{id}/parameters`` with 780,000 short parameters (``--body parameters``), the same
with 60 parameters of 1 MiB each (``values``), and ``PUT /tasks/{id}/configurations`` with
one 60 MiB text (``configuration``); it prints the same figures, and the answers when one
is not 204. Target: the ceiling of the event batches (at
most two large bodies at a time, one on SQLite, each adding <= 300 MiB).

``--case spool`` (root: mounts a 1 MiB tmpfs as the spool) runs a real training script that
reports ``--reports`` scalars while the server is stopped, then brings the server back and
closes the task; it prints reported, stored, counted as dropped, the task's status message
and the script's exit code. Target: stored + dropped == reported, exit code 0.

Run: ``.venv/bin/python benchmarks/faults.py [--case memory|bodies|spool] [--db sqlite|postgres]
[--body parameters|values|configuration|containers] [--bodies N] [--reports N ...]`` (``--db`` and
``--body`` may be repeated; ``--bodies N`` sends N bodies at once instead of eight).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.ingest import fresh_postgres  # noqa: E402
from tests.helpers.large_batches import (  # noqa: E402
    parameter_list,
    scalar_batch,
    send_at_once,
)
from tests.helpers.process_memory import memory_mib, reset_peak  # noqa: E402
from tests.helpers.server import ServerProcess, running_server  # noqa: E402
from tests.helpers.tmpfs import small_tmpfs  # noqa: E402

MIB = 1 << 20


def send_measured(server: ServerProcess, requests: list[tuple[str, str, bytes]]
                  ) -> tuple[dict[str, int], list[int]]:
    """Send ``(method, path, body)`` requests at once (one connection each); the server's
    memory figures and the answers' status codes."""
    pid = server.proc.pid
    time.sleep(1)
    reset_peak(pid)
    before = memory_mib(pid)["VmRSS"]
    codes = send_at_once(server, requests)
    peak = memory_mib(pid)["VmHWM"]
    time.sleep(2)
    after = memory_mib(pid)["VmRSS"]
    return {"before": before, "peak": peak, "after": after}, codes


def new_tasks(server: ServerProcess, count: int) -> list[str]:
    """Ids of ``count`` new tasks."""
    from tunehouse.store.records import TaskCreate

    store = server.store()
    try:
        return [store.tasks.create_task(TaskCreate(project="bench/faults", name="big")).id
                for _ in range(count)]
    finally:
        store.close()


def print_figures(label: str, measured: tuple[dict[str, int], list[int]], expected: int) -> None:
    """One line of figures; the answers too when one is not ``expected``."""
    figures, codes = measured
    unexpected = [code for code in codes if code != expected]
    answers = (f"; answers {', '.join(f'{codes.count(c)} x {c}' for c in sorted(set(codes)))}"
               if unexpected else "")
    print(f"  {label:44s} RSS before {figures['before']:5d} MiB, peak "
          f"{figures['peak']:5d} MiB (+{figures['peak'] - figures['before']}), after "
          f"{figures['after']:5d} MiB (+{figures['after'] - figures['before']}){answers}")
    sys.stdout.flush()


def memory_case(name: str, server: ServerProcess) -> None:
    ids = new_tasks(server, 5)
    one = [scalar_batch(ids[0], 1_600_000)]
    four = [scalar_batch(task_id, 1_100_000) for task_id in ids[1:]]
    print(f"\n== {name}")
    for label, bodies in ((f"1 batch of {len(one[0]) / MIB:.0f} MiB", one),
                          (f"4 batches of {len(four[0]) / MIB:.0f} MiB at once", four)):
        print_figures(label, send_measured(server, [("POST", "/events", body)
                                                    for body in bodies]), 200)


#: The bodies of ``--case bodies``: name -> (area, what, body of ``PUT /tasks/{id}/<area>``).
BODIES = {
    "parameters": ("parameters", "780,000 parameters", lambda: parameter_list(780_000)),
    "values": ("parameters", "60 parameters of 1 MiB",
               lambda: parameter_list(60, value_bytes=MIB)),
    "configuration": ("configurations", "one 60 MiB configuration",
                      lambda: orjson.dumps({"name": "big", "text": "x" * (60 * MIB)})),
    "containers": ("environment", "an environment of 20 million empty lists (refused)",
                   lambda: orjson.dumps({"extra": {"junk": [[]] * 20_000_000}})),
}


def bodies_case(name: str, server: ServerProcess, count: int, which: list[str]) -> None:
    """Each body of ``which`` sent ``count`` times at once, to a server restarted for it."""
    print(f"\n== {name}")
    for key in which:
        area, what, make = BODIES[key]
        body = make()
        server.restart()
        requests = [("PUT", f"/tasks/{task_id}/{area}", body)
                    for task_id in new_tasks(server, count)]
        label = f"{count} x {len(body) / MIB:.0f} MiB: {what}"
        print_figures(label, send_measured(server, requests), 204)


SCRIPT = """
    import os, sys, time
    from tunehouse import Task
    task = Task.init(project_name="bench/faults", task_name="full spool")
    print("TASK=" + task.id, flush=True)
    while not os.path.exists(sys.argv[1] + "/down"):
        time.sleep(0.05)
    logger = task.get_logger()
    for i in range(int(sys.argv[2])):
        logger.report_scalar("m", "s", float(i), i)
    open(sys.argv[1] + "/reported", "w").close()
    while not os.path.exists(sys.argv[1] + "/up"):
        time.sleep(0.05)
    task.close()
"""


def spool_case(reports: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        spool = stack.enter_context(small_tmpfs(root / "spool", "1m"))
        server = stack.enter_context(running_server(root / "home"))
        script = root / "train.py"
        script.write_text(textwrap.dedent(SCRIPT))
        env = {**server.client_env(), "TUNEHOUSE_SPOOL": str(spool),
               "PYTHONPATH": str(REPO_ROOT)}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(script), str(root), str(reports)],
                                env=env, cwd=root, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None
        task_id = proc.stdout.readline().strip().removeprefix("TASK=")
        server.stop()
        (root / "down").touch()
        while not (root / "reported").exists() and proc.poll() is None:
            time.sleep(0.05)
        server._start()
        (root / "up").touch()
        _, err = proc.communicate(timeout=600)
        elapsed = time.perf_counter() - started
        store = server.store()
        try:
            record = store.tasks.get_task(task_id)
            summaries = store.events.get_metric_summaries(task_id)
        finally:
            store.close()
        stored = sum(s.count for s in summaries if s.title == "m")
        dropped = sum(int(s.last or 0) for s in summaries if s.title == ":dropped:")
        warning = [line for line in err.splitlines() if "lost" in line]
        print(f"\n== {reports:,} reports, server away, spool on a full 1 MiB tmpfs "
              f"({elapsed:.1f} s)")
        print(f"  stored {stored:,}, counted as dropped {dropped:,}, stored + dropped == "
              f"reported: {stored + dropped == reports}")
        print(f"  script exit code {proc.returncode}; task {record.status.value}, "
              f"message: {record.status_message or '(none)'}")
        print(f"  close() said: {warning[-1] if warning else '(nothing)'}")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["memory", "bodies", "spool"])
    parser.add_argument("--bodies", type=int, default=8)
    parser.add_argument("--body", choices=list(BODIES), action="append",
                        help="the bodies of --case bodies (default: all)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], action="append",
                        help="the databases of the memory cases (default: both)")
    parser.add_argument("--reports", type=int, nargs="+", default=[1_000_000, 1_500_000])
    args = parser.parse_args()
    databases = args.db or ["sqlite", "postgres"]
    for case, run_case in (("memory", memory_case),
                           ("bodies", lambda name, server: bodies_case(name, server, args.bodies,
                                                             args.body or list(BODIES)))):
        if args.case not in (None, case):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if "sqlite" in databases:
                with running_server(Path(tmp) / "sqlite") as server:
                    run_case("SQLite", server)
            if "postgres" in databases:
                with fresh_postgres() as db_url, running_server(Path(tmp) / "pg",
                                                                db_url=db_url) as server:
                    run_case("PostgreSQL", server)
    if args.case in (None, "spool"):
        if os.geteuid() != 0:
            sys.exit("--case spool mounts a tmpfs: run it as root")
        for reports in args.reports:
            spool_case(reports)


if __name__ == "__main__":
    main()
