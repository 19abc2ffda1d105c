"""Benchmark: a trial's start to its first line of training code, cold vs warm interpreter.

A script that imports TensorFlow and Keras and calls ``Task.init`` is run once here (the
SDK records its imports), then cloned: ``--runs`` clones run on an agent started with
``--no-warm``, then ``--runs`` + 1 on a warm one (the first of them finds no interpreter
waiting and is left out), one slot each (embedded store, ``--cpu-only``). Each clone
reports the moment its training code is reached (after the imports and ``Task.init``);
the figure is that moment minus the task's start (its claim by the agent). The warm
clones hold their slot for ``--hold`` seconds, so that the next interpreter has imported
TensorFlow before the next claim, as it has behind a real trial (behind a trial shorter
than the imports, a warm start saves only the part of them done by its claim). Medians
are printed, never asserted.

Run: ``.venv/bin/python benchmarks/warm_start.py [--runs 4] [--hold 15]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tunehouse.client import open_store  # noqa: E402
from tunehouse.settings import Settings  # noqa: E402
from tunehouse.store.base import Store  # noqa: E402
from tunehouse.store.records import Parameter, TaskQuery, TaskStatus  # noqa: E402
from tunehouse.store.status import TERMINAL  # noqa: E402

TRIAL = '''
import argparse, os, time
import keras
import tensorflow as tf
from tunehouse import Task
parser = argparse.ArgumentParser()
parser.add_argument("--hold", type=float, default=0.0)
args = parser.parse_args()
task = Task.init(project_name="bench-warm", task_name="trial")
reached = time.time()
task.get_logger().report_scalar("clock", "reached", reached, 0)
print("training code reached with tensorflow", tf.__version__, flush=True)
time.sleep(args.hold)
'''


def ts(moment: datetime | None) -> float:
    assert moment is not None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def run_agent(store: Store, env: dict[str, str], root: Path, kind: str, ids: list[str],
              limit_s: float) -> None:
    """Run the clones ``ids`` on an agent of one slot (``--no-warm`` for ``cold``)."""
    queue = f"bench-{kind}"
    for task_id in ids:
        store.queues.enqueue(task_id, queue)
    options = ["--no-warm"] if kind == "cold" else []
    agent = subprocess.Popen(
        [sys.executable, "-m", "tunehouse", "agent", "--queue", queue, "--cpu-only",
         "--name", queue, *options], env=env, cwd=root,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit_s
    try:
        while not all(store.tasks.get_task(t).status in TERMINAL for t in ids):
            if time.monotonic() > deadline:
                raise SystemExit(f"the {kind} clones did not end in time")
            time.sleep(1.0)
    finally:
        agent.terminate()
        agent.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="clones of each kind (default 4)")
    parser.add_argument("--hold", type=float, default=15.0,
                        help="seconds each warm clone holds its slot (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-warm-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
        env.update(TUNEHOUSE_HOME=str(root / "home"), PYTHONPATH=str(REPO))
        script = root / "trial.py"
        script.write_text(TRIAL)
        started = time.monotonic()
        subprocess.run([sys.executable, str(script)], cwd=root, env=env, check=True,
                       capture_output=True, timeout=600)
        print(f"recorded run (cold, here): {time.monotonic() - started:.1f} s")
        settings = Settings.from_env(env)
        with open_store(settings) as store:
            base = store.tasks.list_tasks(TaskQuery(project="bench-warm")).tasks[0]
            imports = store.tasks.get_environment(base.id).extra.get("warm_imports", [])
            print(f"recorded imports: {len(imports)} module(s), tensorflow among them: "
                  f"{'tensorflow' in imports}")
            kinds: dict[str, list[str]] = {"cold": [], "warm": []}
            for kind in kinds:
                # one more warm clone: the first finds no interpreter waiting yet
                for i in range(args.runs + (kind == "warm")):
                    clone = store.tasks.clone_task(base.id, name=f"{kind} {i}")
                    hold = args.hold if kind == "warm" else 0.0
                    store.tasks.set_parameters(clone.id, [Parameter(
                        section="Args", name="hold", value=str(hold), type="float")])
                    kinds[kind].append(clone.id)
            for kind, ids in kinds.items():
                run_agent(store, env, root, kind, ids,
                          60 * (len(ids) + 2) + len(ids) * args.hold)
            for kind, ids in kinds.items():
                figures: list[float] = []
                labels: list[str] = []
                for task_id in ids:
                    task = store.tasks.get_task(task_id)
                    if task.status is not TaskStatus.completed:
                        raise SystemExit(f"{kind} clone {task_id}: {task.status.value} "
                                         f"({task.status_reason})")
                    reached = store.events.get_scalars(task_id, "clock", "reached")[0].y[0]
                    assert reached is not None
                    figures.append(reached - ts(task.started))
                    starts = [line.text.split(":")[1].strip() for line
                              in store.events.get_logs(task_id, limit=1000)
                              if line.text.startswith("tunehouse agent: ") and " start" in line.text
                              and line.text.split(":")[1].strip() in ("warm start", "cold start")]
                    labels.append(starts[0] if starts else "cold start (--no-warm)")
                shown = figures[1:] if kind == "warm" else figures
                print(f"{kind}: start to training code, median {statistics.median(shown):.2f} s "
                      f"over {len(shown)} ("
                      + ", ".join(f"{f:.2f} {label}" for f, label in zip(figures, labels,
                                                                          strict=True)) + ")")


if __name__ == "__main__":
    main()
