"""Server throughput and latency, on SQLite and on PostgreSQL (a fresh database each).

For each database a real server subprocess is started (``python -m tunehouse server``)
and an ``HttpStore`` on this machine measures:

* sustained ingest of scalars sent in 10,000-event batches (median of several runs);
* reading back a 100,000-point series raw, and a 1,000,000-point series with
  ``max_points=2000`` (median of several runs);
* the first page (50 rows) of a 100,000-task table sorted by a metric (tasks seeded
  directly through SQL by :func:`tests.helpers.seed.seed_tasks`);
* the latency of an authenticated GET on a keep-alive connection.

Run: ``.venv/bin/python benchmarks/ingest.py [--only sqlite|postgres] [--runs N]``.
PostgreSQL comes from ``TUNEHOUSE_TEST_PG`` (default: the local test server).
Targets: >= 300,000 scalars/s, raw 100k <= 100 ms, downsampled 1M <= 150 ms,
100k-task page <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.seed import seed_tasks  # noqa: E402
from tests.helpers.server import ServerProcess, running_server  # noqa: E402
from tunehouse.client.http import HttpStore  # noqa: E402
from tunehouse.store.records import EventBatch, ScalarEvent, TaskCreate, TaskQuery  # noqa: E402
from tunehouse.store.sql import SqlStore  # noqa: E402

PG_ADMIN_URL = os.environ.get("TUNEHOUSE_TEST_PG",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCH = 10_000


def median_time(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def send_points(store: HttpStore, task_id: str, points: int, series: str = "train") -> None:
    for start in range(0, points, BATCH):
        store.events.add_events(EventBatch(
            batch_id=uuid.uuid4().hex, task_id=task_id,
            scalars=[ScalarEvent("loss", series, i, 1.0 / (i + 1), 1.7e9 + i)
                     for i in range(start, min(start + BATCH, points))]))


def bench_ingest(store: HttpStore, runs: int, batches_per_run: int) -> float:
    rates = []
    for run in range(runs + 1):
        task = store.tasks.create_task(TaskCreate(project="bench/ingest", name=f"ingest {run}"))
        batches = [EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id,
                              scalars=[ScalarEvent("loss", f"s{b % 4}", b * BATCH + i, 0.5,
                                                   1.7e9 + i) for i in range(BATCH)])
                   for b in range(batches_per_run)]
        start = time.perf_counter()
        for batch in batches:
            store.events.add_events(batch)
        elapsed = time.perf_counter() - start
        if run:  # the first run warms up
            rates.append(batches_per_run * BATCH / elapsed)
    return statistics.median(rates)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"th_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_all(server: ServerProcess, db_url: str, runs: int, batches: int) -> dict[str, float]:
    store = server.store()
    figures: dict[str, float] = {}
    try:
        figures["ingest scalars/s"] = bench_ingest(store, runs, batches)

        task = store.tasks.create_task(TaskCreate(project="bench/read", name="100k"))
        send_points(store, task.id, 100_000)
        figures["read 100k raw ms"] = 1000 * median_time(
            lambda: store.events.get_scalars(task.id, title="loss", series="train"), runs)

        big = store.tasks.create_task(TaskCreate(project="bench/read", name="1M"))
        send_points(store, big.id, 1_000_000)
        figures["read 1M max_points=2000 ms"] = 1000 * median_time(
            lambda: store.events.get_scalars(big.id, title="loss", series="train", max_points=2000),
            runs)

        with tempfile.TemporaryDirectory() as blobs, SqlStore(db_url, blobs, user="bench") as seeding:
            seed_tasks(seeding, 100_000, project="bench/table")
        query = TaskQuery(project="bench/table", order_by="metric:val/acc", limit=50)
        page = store.tasks.list_tasks(query)
        assert page.total == 100_000 and len(page.tasks) == 50, page.total
        figures["100k tasks, page by metric ms"] = 1000 * median_time(
            lambda: store.tasks.list_tasks(query), runs)

        with httpx.Client(base_url=f"{server.url}/api/v1",
                          auth=(server.access_key, server.secret_key)) as client:
            path = f"/tasks/{task.id}"
            for _ in range(50):
                client.get(path).raise_for_status()
            latencies = []
            for _ in range(1000):
                start = time.perf_counter()
                client.get(path).raise_for_status()
                latencies.append(time.perf_counter() - start)
        latencies.sort()
        figures["GET latency median ms"] = 1000 * statistics.median(latencies)
        figures["GET latency p99 ms"] = 1000 * latencies[int(len(latencies) * 0.99)]
    finally:
        store.close()
    return figures


TARGETS = {"ingest scalars/s": (">=", 300_000), "read 100k raw ms": ("<=", 100),
           "read 1M max_points=2000 ms": ("<=", 150), "100k tasks, page by metric ms": ("<=", 100)}


def report(name: str, figures: dict[str, float]) -> None:
    print(f"\n== {name}")
    for key, value in figures.items():
        target = TARGETS.get(key)
        verdict = ""
        if target:
            op, goal = target
            ok = value >= goal if op == ">=" else value <= goal
            verdict = f"  (target {op} {goal:,}: {'met' if ok else 'MISSED'})"
        print(f"  {key:32s} {value:>12,.1f}{verdict}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=30, help="10k-event batches per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="th-bench-") as tmp:
        if args.only in (None, "sqlite"):
            home = Path(tmp) / "sqlite-home"
            db_url = f"sqlite:///{home / 'tunehouse.db'}"
            with running_server(home) as server:
                report("SQLite", run_all(server, db_url, args.runs, args.batches))
        if args.only in (None, "postgres"):
            with fresh_postgres() as db_url, running_server(Path(tmp) / "pg-home",
                                                            db_url=db_url) as server:
                report("PostgreSQL", run_all(server, db_url, args.runs, args.batches))


if __name__ == "__main__":
    main()
