"""Server time of the web UI's main pages at 100,000 tasks, and of a 1,000,000-point
chart's data.

Starts a real server (SQLite, or PostgreSQL with ``--pg``), seeds ``--tasks`` tasks
straight into its database (:func:`tests.helpers.seed.seed_tasks`) and one task with a
``--points``-point series, signs in through the login form like a browser, then prints
the median time of each request over ``--runs`` runs (measured at the client on
127.0.0.1, so it includes the local HTTP round trip: an upper bound of server time).

Targets (issue 11): the experiment table's first page <= 300 ms, chart data <= 150 ms.

    .venv/bin/python benchmarks/ui.py [--tasks 100000] [--points 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import fresh_postgres, median_time, send_points  # noqa: E402
from tests.helpers.seed import seed_tasks  # noqa: E402
from tests.helpers.server import running_server  # noqa: E402
from tests.helpers.web import sign_in  # noqa: E402
from tunehouse.store.records import TaskCreate  # noqa: E402
from tunehouse.store.sql import SqlStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "home"
        db_url = stack.enter_context(fresh_postgres()) if args.pg else None
        with running_server(home, db_url=db_url) as server:
            store = SqlStore(db_url or f"sqlite:///{home / 'tunehouse.db'}",
                             home / "artifacts", user="bench")
            started = time.perf_counter()
            ids = seed_tasks(store, args.tasks, project="bench/table")
            print(f"seeded {len(ids):,} tasks in {time.perf_counter() - started:.1f} s")
            project_id = store.tasks.get_project("bench/table").id
            api = server.store()
            long = api.tasks.create_task(TaskCreate(project="bench/chart", name="long"))
            started = time.perf_counter()
            send_points(api, long.id, args.points)
            print(f"stored a {args.points:,}-point series in "
                  f"{time.perf_counter() - started:.1f} s")
            client = sign_in(server, headers={"Accept": "text/html"}, timeout=120)
            table = f"/projects/{project_id}/tasks"
            columns = "col=param:General/lr&col=metric:val/acc:max&col=metric:train/loss"
            pages = {
                "projects list": "/projects",
                "experiment table, first page (50 rows)": table,
                "table, 3 columns, sorted by a metric": f"{table}?{columns}&order=metric:val/acc:max",
                "table, filtered by a parameter range": f"{table}?{columns}&filter=param:General/lr<0.001",
                "table JSON (read model, 3 columns)": f"/api/v1/tasks?project={project_id}"
                                                      "&columns=param:General/lr&columns=metric:val/acc"
                                                      "&columns=metric:train/loss&limit=50",
                "task page": f"/tasks/{ids[-1]}",
                f"chart data, {args.points:,} points -> 2,000": f"/api/v1/tasks/{long.id}"
                                                               "/scalars?max_points=2000",
            }
            print(f"median of {args.runs} runs, {'PostgreSQL' if args.pg else 'SQLite'}:")
            for label, path in pages.items():
                def fetch(path: str = path) -> None:
                    answer = client.get(path)
                    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                print(f"  {label:45s} {median_time(fetch, args.runs) * 1000:8.1f} ms")
            api.close()
            store.close()


if __name__ == "__main__":
    main()
