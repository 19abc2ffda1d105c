"""Figures for two of the reliability cases (docs/reliability.md): the server's memory under
event batches near its size limit, and what a training script loses when its spool cannot
be written while the server is away.

``--case memory`` starts a real server (SQLite, then PostgreSQL from ``TUNEHOUSE_TEST_PG``),
posts one 63 MiB batch (1,600,000 scalars), then four 43 MiB batches at once, and prints the
server's resident memory before, at its peak (``VmHWM`` reset before each case) and after.
Target: a 64 MiB batch adds <= 300 MiB and the memory comes back.

``--case spool`` (root: mounts a 1 MiB tmpfs as the spool) runs a real training script that
reports ``--reports`` scalars while the server is stopped, then brings the server back and
closes the task; it prints reported, stored, counted as dropped, the task's status message
and the script's exit code. Target: stored + dropped == reported, exit code 0.

Run: ``.venv/bin/python benchmarks/faults.py [--case memory|spool] [--reports N ...]``.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.ingest import fresh_postgres  # noqa: E402
from tests.helpers.large_batches import post_at_once, scalar_batch  # noqa: E402
from tests.helpers.process_memory import memory_mib, reset_peak  # noqa: E402
from tests.helpers.server import ServerProcess, running_server  # noqa: E402
from tests.helpers.tmpfs import small_tmpfs  # noqa: E402

MIB = 1 << 20


def post_batches(server: ServerProcess, bodies: list[bytes]) -> dict[str, int]:
    """Send ``bodies`` at once (one connection each) and return the memory figures."""
    pid = server.proc.pid
    time.sleep(1)
    reset_peak(pid)
    before = memory_mib(pid)["VmRSS"]
    codes = post_at_once(server, bodies)
    assert codes == [200] * len(bodies), codes
    peak = memory_mib(pid)["VmHWM"]
    time.sleep(2)
    after = memory_mib(pid)["VmRSS"]
    return {"before": before, "peak": peak, "after": after}


def memory_case(name: str, server: ServerProcess) -> None:
    store = server.store()
    from tunehouse.store.records import TaskCreate

    def new_task() -> str:
        return store.tasks.create_task(TaskCreate(project="bench/faults", name="big")).id

    one = [scalar_batch(new_task(), 1_600_000)]
    four = [scalar_batch(new_task(), 1_100_000) for _ in range(4)]
    store.close()
    print(f"\n== {name}")
    for label, bodies in ((f"1 batch of {len(one[0]) / MIB:.0f} MiB", one),
                          (f"4 batches of {len(four[0]) / MIB:.0f} MiB at once", four)):
        figures = post_batches(server, bodies)
        print(f"  {label:28s} RSS before {figures['before']:5d} MiB, peak "
              f"{figures['peak']:5d} MiB (+{figures['peak'] - figures['before']}), after "
              f"{figures['after']:5d} MiB (+{figures['after'] - figures['before']})")
        sys.stdout.flush()


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
    parser.add_argument("--case", choices=["memory", "spool"])
    parser.add_argument("--reports", type=int, nargs="+", default=[1_000_000, 1_500_000])
    args = parser.parse_args()
    if args.case in (None, "memory"):
        with tempfile.TemporaryDirectory() as tmp:
            with running_server(Path(tmp) / "sqlite") as server:
                memory_case("SQLite", server)
            with fresh_postgres() as db_url, running_server(Path(tmp) / "pg",
                                                            db_url=db_url) as server:
                memory_case("PostgreSQL", server)
    if args.case in (None, "spool"):
        if os.geteuid() != 0:
            sys.exit("--case spool mounts a tmpfs: run it as root")
        for reports in args.reports:
            spool_case(reports)


if __name__ == "__main__":
    main()
