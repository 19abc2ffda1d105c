"""How fast the search controller reacts to its trials: refill and judge latencies.

A search of ``--trials`` trials, one at a time, runs through a queue that this script
serves as the agent: it claims each trial, reports iterations 1 and 2 of the objective
(``max_iteration_per_job=2``, so the second report stops the trial) and, once the abort is
requested, ends the trial ``aborted``. Printed per mode, as medians:

* **judge**: from the decisive report stored (``add_events`` returned) to the controller
  reading it (the ``seen`` time of the outcome it records);
* **refill**: from a trial's end (its ``completed`` time in the store) to the next trial's
  creation (its ``created`` time).

Modes: ``embedded`` (controller and agent on one embedded store: the agent's writes wake
the controller through the store's in-process signal), ``embedded, other store`` (the agent
on a second store of the same database, as a separate process would be: found by the SQL
store's poll of other processes' writes) and ``server`` (both over HTTP to a local server:
woken by the server's signal through the long poll). Target: both under 100 ms (the 0.5 s
pass of the polling controller gave about 250 ms on average, up to 500 ms).

Run: ``.venv/bin/python benchmarks/hpo_wakeups.py [--trials N] [--no-server]``. To measure
another tunehouse (an older checkout, say), put its folder first on ``PYTHONPATH``: this
script takes ``tunehouse`` from there and only its test helpers from this checkout.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # after PYTHONPATH: a tunehouse given there is measured

from tests.helpers.server import running_server  # noqa: E402
from tests.helpers.wait import wait_until  # noqa: E402
from tunehouse.client import open_store  # noqa: E402
from tunehouse.hpo.optimizer import HyperParameterOptimizer  # noqa: E402
from tunehouse.hpo.space import UniformParameterRange  # noqa: E402
from tunehouse.hpo.trials import read_records  # noqa: E402
from tunehouse.settings import Settings  # noqa: E402
from tunehouse.store.base import Store  # noqa: E402
from tunehouse.store.records import (  # noqa: E402
    EventBatch,
    Parameter,
    StatusChange,
    TaskCreate,
    TaskQuery,
    TaskStatus,
)

QUEUE = "wakeups"
SPACE = [UniformParameterRange("x", 0.0, 1.0)]


def base_task(store: Store) -> str:
    task = store.tasks.create_task(TaskCreate(project="bench-wakeups", name="objective"))
    store.tasks.set_parameters(task.id, [Parameter(section="Args", name="x", value="0.5",
                                                   type="float")])
    return task.id


def serve_trials(controller: Store, agent: Store, trials: int) -> tuple[list[float],
                                                                          list[float]]:
    """Run a search on ``controller``, served as its agent through ``agent``; returns the
    judge and refill latencies in seconds."""
    search = HyperParameterOptimizer(
        base_task(controller), SPACE, "objective", "value", strategy="random", seed=1,
        execution_queue=QUEUE, max_number_of_concurrent_tasks=1, total_max_jobs=trials,
        max_iteration_per_job=2, store=controller)
    search.start()
    judge: list[float] = []
    for _ in range(trials):
        task = wait_until(lambda: agent.queues.claim_task([QUEUE], "bench-agent", wait_s=2),
                          60, "a trial to claim")
        for iteration in (1, 2):
            agent.events.add_events(EventBatch(
                batch_id=f"{task.id}-{iteration}", task_id=task.id,
                scalars=[("objective", "value", iteration, 0.1 * iteration, 0.0)]))
        stored = time.time()
        wait_until(lambda task_id=task.id: agent.tasks.get_task(task_id).abort_requested,
                   60, f"the abort of {task.id}", interval=0.01)
        outcome = read_records(agent, task.id, search.id or "")[1]
        assert outcome is not None and outcome.seen is not None
        judge.append(outcome.seen - stored)
        agent.tasks.change_status(task.id, StatusChange(status=TaskStatus.aborted,
                                                        reason="aborted on request"))
    if not search.wait(timeout=60):
        raise SystemExit("the search did not end")
    children = controller.tasks.list_tasks(TaskQuery(
        parent_id=search.id, order_by="created", descending=False, limit=1000)).tasks
    refill = [(after.created - before.completed).total_seconds()
              for before, after in zip(children, children[1:], strict=False)
              if before.completed is not None]
    return judge, refill


def report(label: str, measure: Callable[[], tuple[list[float], list[float]]]) -> None:
    judge, refill = measure()
    print(f"[{label}] judge: median {statistics.median(judge) * 1000:.0f} ms "
          f"(max {max(judge) * 1000:.0f}); refill: median "
          f"{statistics.median(refill) * 1000:.0f} ms (max {max(refill) * 1000:.0f}) "
          f"over {len(judge)} trials", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--no-server", action="store_true", help="embedded modes only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-") as tmp:
        for label, other_store in (("embedded", False), ("embedded, other store", True)):
            home = Path(tmp) / label.replace(", ", "-").replace(" ", "-")
            home.mkdir()
            settings = Settings.from_env({"TUNEHOUSE_HOME": str(home)})
            with open_store(settings) as store:
                if other_store:
                    with open_store(settings) as agent:
                        report(label, lambda s=store, a=agent: serve_trials(s, a, args.trials))
                else:
                    report(label, lambda s=store: serve_trials(s, s, args.trials))
        if args.no_server:
            return
        with running_server(Path(tmp) / "server") as server, server.store() as store:
            report("server", lambda: serve_trials(store, store, args.trials))


if __name__ == "__main__":
    main()
