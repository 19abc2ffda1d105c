"""The main job's search, measured: its wall time against the training it runs, cold and warm.

Runs the search ``scripts/demo.sh`` runs (``examples/keras_cnn.py`` on scikit-learn's digits,
``examples/search_space.yaml``, BOHB, 20 trials of at most 6 epochs, 2 at a time, no pruning
before the first epoch, seed 0) on the embedded store, once with every trial started cold
(``warm_start=False``) and once warm (the default), alternating the order over
``--repeats``. For each it prints:

* the search's wall time, the sum of its epochs' training time and their **ratio**: wall
  over (training / concurrency), 1.0 meaning the slots did nothing but train (target:
  at most 1.5);
* where a trial's time goes, median per trial and total over the trials: queued (created to
  claimed by the agent), the agent before the process (claimed to the trial's process
  created; a warm interpreter exists before the claim, so 0), process start or warm
  hand-over (to the script's first line), imports (``tunehouse``, Keras with TensorFlow,
  scikit-learn: what the warm interpreter imported ahead), ``Task.init``, data and model
  set-up (to the first epoch), the first epoch, the other epochs, after the last epoch
  (export, ``task.close()``, interpreter exit) and the agent after the exit (to the
  trial recorded as ended). Pruned trials are killed mid-epoch: they have no "after".

Each trial runs the example through a small entry script that notes these moments in a
file (the example's code runs as ``__main__``, unchanged, its ``fit`` gets one more
callback noting epoch boundaries) - the search's base task is a run of that script.

Run: ``.venv/bin/python benchmarks/hpo_main_job.py [--repeats 2] [--trials 20]
[--epochs 6] [--concurrency 2] [--modes cold,warm]``. Several minutes per search.
"""

from __future__ import annotations

import argparse
import json
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

import tunehouse.store.records as rec  # noqa: E402
from tunehouse.client import open_store  # noqa: E402
from tunehouse.hpo.optimizer import HyperParameterOptimizer  # noqa: E402
from tunehouse.hpo.space import parse_space  # noqa: E402
from tunehouse.settings import Settings  # noqa: E402

MARKS_ENV = "BENCH_MARKS_DIR"  # not TUNEHOUSE_*: the agent passes it to the trials

#: The entry point of every trial: notes moments in $BENCH_MARKS_DIR/<task id or "base">.json
#: and runs the example as __main__.
ENTRY = '''
import time
FIRST = time.time()
import atexit, json, os, sys

def _process_created():
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rpartition(")")[2].split()[19])
    with open("/proc/uptime") as uptime:
        up = float(uptime.read().split()[0])
    return time.time() - (up - ticks / os.sysconf("SC_CLK_TCK"))

marks = {"process": _process_created(), "first": FIRST, "epochs": []}
_path = os.path.join(os.environ["%(env)s"],
                     os.environ.get("TUNEHOUSE_TASK_ID", "base") + ".json")

def _save(**more):
    marks.update(more)
    with open(_path + ".tmp", "w") as out:
        json.dump(marks, out)
    os.replace(_path + ".tmp", _path)

atexit.register(lambda: _save(exit=time.time()))  # registered first: runs last

import sklearn.datasets
import keras
from tunehouse import Task
_save(imported=time.time())

_fit = keras.Model.fit

class _EpochClock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        marks["epochs"].append([time.time(), None])

    def on_epoch_end(self, epoch, logs=None):
        marks["epochs"][-1][1] = time.time()
        _save()

def _clocked_fit(self, *args, callbacks=None, **kwargs):
    return _fit(self, *args, callbacks=[*(callbacks or []), _EpochClock()], **kwargs)

keras.Model.fit = _clocked_fit
_init = Task.init.__func__

def _clocked_init(cls, *args, **kwargs):
    began = time.time()
    task = _init(cls, *args, **kwargs)
    _save(init=[began, time.time()])
    return task

Task.init = classmethod(_clocked_init)
with open(%(example)r) as source:  # not runpy: sys.argv[0] stays this script's, which
    _code = compile(source.read(), %(example)r, "exec")  # the task records and reruns
exec(_code, {"__name__": "__main__", "__file__": %(example)r, "__builtins__": __builtins__})
'''

PHASES = ("queued", "agent before", "process start / hand-over", "imports", "Task.init",
          "data + model set-up", "first epoch", "other epochs", "after the last epoch",
          "agent after exit")


def ts(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def phases(task: rec.Task, marks: dict) -> dict[str, float]:
    """Seconds per phase of one trial (phases it did not reach are left out)."""
    created, claimed, ended = ts(task.created), ts(task.started), ts(task.completed)
    out: dict[str, float] = {}
    if created is None or claimed is None:
        return out
    out["queued"] = claimed - created
    if "first" not in marks:
        return out
    began = max(marks["process"], claimed)
    out["agent before"] = began - claimed
    out["process start / hand-over"] = marks["first"] - began
    if "imported" not in marks or "init" not in marks:
        return out
    out["imports"] = marks["imported"] - marks["first"]
    out["Task.init"] = marks["init"][1] - marks["init"][0]
    done = [(b, e) for b, e in marks["epochs"] if e is not None]
    if not done:
        return out
    out["data + model set-up"] = done[0][0] - marks["init"][1]
    out["first epoch"] = done[0][1] - done[0][0]
    out["other epochs"] = sum(e - b for b, e in done[1:])
    if "exit" in marks and task.status is rec.TaskStatus.completed:
        out["after the last epoch"] = marks["exit"] - done[-1][1]
        if ended is not None:
            out["agent after exit"] = ended - marks["exit"]
    return out


def training_seconds(marks: dict) -> float:
    return sum(e - b for b, e in marks.get("epochs", []) if e is not None)


def run_baseline(home: Path, marks_dir: Path, entry: Path, epochs: int) -> str:
    """The base task: one run of the entry script, as scripts/demo.sh runs the example."""
    work = home / "baseline"
    work.mkdir()
    env = {**os.environ, "TUNEHOUSE_HOME": str(home), MARKS_ENV: str(marks_dir),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TUNEHOUSE_SERVER", None)
    done = subprocess.run([sys.executable, str(entry), "--epochs", str(epochs),
                           "--export-dir", "exported-model"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the baseline failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return next(line.split()[-1] for line in done.stdout.splitlines()
                if line.startswith("task id: "))


def run_search(store, settings: Settings, base: str, args: argparse.Namespace, warm: bool,
               marks_dir: Path) -> dict:
    search = HyperParameterOptimizer(
        base, parse_space((REPO / "examples/search_space.yaml").read_text()), "accuracy",
        "validation", "max", strategy="bohb", max_number_of_concurrent_tasks=args.concurrency,
        local=args.concurrency, warm_start=warm, total_max_jobs=args.trials,
        min_iteration_per_job=1, max_failed_jobs=5, seed=args.seed,
        name=f"bench: {'warm' if warm else 'cold'}", store=store, settings=settings)
    started = time.time()
    search.start()
    if not search.wait(timeout=3600):
        search.stop()
        raise SystemExit("the search did not end within an hour")
    wall = time.time() - started
    kids = store.tasks.list_tasks(rec.TaskQuery(parent_id=search.id, limit=1000)).tasks
    per_trial, training, statuses, epochs, best = [], 0.0, {}, 0, 0.0
    for kid in kids:
        for series in store.events.get_scalars(kid.id, "accuracy", "validation"):
            best = max([best, *series.y])
        statuses[kid.status.value] = statuses.get(kid.status.value, 0) + 1
        path = marks_dir / f"{kid.id}.json"
        marks = json.loads(path.read_text()) if path.exists() else {}
        training += training_seconds(marks)
        epochs += sum(1 for _, end in marks.get("epochs", []) if end is not None)
        per_trial.append(phases(kid, marks))
    return {"wall": wall, "training": training, "trials": per_trial, "statuses": statuses,
            "ending": search.ending, "epochs": epochs, "best": best}


def report(label: str, result: dict, concurrency: int) -> float:
    wall, training = result["wall"], result["training"]
    ratio = wall / (training / concurrency) if training else float("inf")
    states = ", ".join(f"{n} {s}" for s, n in sorted(result["statuses"].items()))
    print(f"[{label}] {len(result['trials'])} trials ({states}); search wall {wall:.1f} s, "
          f"training {training:.1f} s summed over the epochs; ratio wall / (training / "
          f"{concurrency}) = {ratio:.2f} (target <= 1.5)", flush=True)
    print(f"    {'phase':<28}{'median/trial':>14}{'total':>10}{'trials':>8}")
    for phase in PHASES:
        values = [t[phase] for t in result["trials"] if phase in t]
        if values:
            print(f"    {phase:<28}{statistics.median(values):>12.2f} s{sum(values):>8.1f} s"
                  f"{len(values):>8}")
    slot_time = wall * concurrency
    print(f"    slot time {slot_time:.0f} s: training {training / slot_time:.0%}, the rest "
          f"{1 - training / slot_time:.0%}", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="cold,warm", help="comma-separated: cold, warm")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write each mode's medians there (benchmarks/hpo_peers.py)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"cold", "warm"}:
        parser.error("--modes takes cold and/or warm")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-main-job-") as tmp:
        root = Path(tmp)
        home, marks_dir = root / "home", root / "marks"
        home.mkdir()
        marks_dir.mkdir()
        os.environ[MARKS_ENV] = str(marks_dir)
        entry = root / "keras_cnn_clocked.py"
        entry.write_text(ENTRY % {"env": MARKS_ENV,
                                  "example": str(REPO / "examples/keras_cnn.py")})
        began = time.time()
        base = run_baseline(home, marks_dir, entry, args.epochs)
        print(f"baseline {base}: {time.time() - began:.1f} s (a cold run of the example, "
              f"{args.epochs} epochs)", flush=True)
        settings = Settings.from_env({"TUNEHOUSE_HOME": str(home)})
        store = open_store(settings)
        ratios: dict[str, list[float]] = {m: [] for m in modes}
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for repeat in range(args.repeats):
            for mode in (modes if repeat % 2 == 0 else modes[::-1]):
                result = run_search(store, settings, base, args, mode == "warm", marks_dir)
                ratios[mode].append(report(f"{mode}, run {repeat + 1}", result,
                                           args.concurrency))
                runs[mode].append(result)
        store.close()
        print("summary (medians over runs):")
        summary = {}
        for mode in modes:
            summary[mode] = {key: statistics.median(r[key] for r in runs[mode])
                             for key in ("wall", "training", "epochs", "best")}
            summary[mode].update(trials=len(runs[mode][0]["trials"]),
                                 concurrency=args.concurrency)
            print(f"    {mode}: wall {summary[mode]['wall']:.1f} s, ratio "
                  f"{statistics.median(ratios[mode]):.2f} over {len(ratios[mode])} run(s)")
        if args.json:
            args.json.write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
