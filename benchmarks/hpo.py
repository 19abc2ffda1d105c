"""Benchmarks of the hyperparameter search: controller overhead, prune latency, trial time.

Also search quality. Figures are printed with their targets, never asserted; each part
works in a temporary home of its own.

Parts (``--only``): ``overhead`` (a ``local=N`` search of no-op trial processes; the
controller's ``SearchRun.tick()`` alone, children completed at once through the store API
by an in-process stand-in for the agent; Optuna's TPE alone), ``prune`` (bohb over the
tests' synthetic objective: report -> decision -> trial ended), ``trial-time`` (trials that
only run ``Task.init``, report once and close: locally, then through a server and an agent
process), ``quality`` (Branin, Hartmann-6: tunehouse's ``Engine`` driven IN-PROCESS, no tasks
or processes) and, long and not in the default set, ``mnist`` (``examples/keras_cnn.py`` on
a 10,000-image MNIST subset through ``HyperParameterOptimizer(local=2)``).

The main job's search (the example CNN on digits, cold and warm, wall against training
time, each trial's phases) is ``benchmarks/hpo_main_job.py``; the same search with
Optuna, Keras Tuner and Ray Tune is ``benchmarks/hpo_peers.py``.

Run: ``.venv/bin/python benchmarks/hpo.py [--only overhead,prune,trial-time,quality]`` (sizes:
``--help``). Targets: controller <= 50 ms per trial; prune decided <= 2 s after the report;
bohb matches random's best in <= 40% of random's epochs.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tunehouse.store.records as rec  # noqa: E402
from tests.helpers.wait import wait_until  # noqa: E402
from tunehouse.client import open_store  # noqa: E402
from tunehouse.hpo import config as hc  # noqa: E402
from tunehouse.hpo import space as hs  # noqa: E402
from tunehouse.hpo.controller import SearchRun  # noqa: E402
from tunehouse.hpo.engine import Engine  # noqa: E402
from tunehouse.hpo.execution import QueueExecution  # noqa: E402
from tunehouse.hpo.optimizer import HyperParameterOptimizer  # noqa: E402
from tunehouse.hpo.progress import Progress  # noqa: E402
from tunehouse.hpo.trials import OUTCOME_CONFIG, Outcome  # noqa: E402
from tunehouse.settings import Settings  # noqa: E402
from tunehouse.store.status import TERMINAL  # noqa: E402

TRIAL_SCRIPT = '''
import time
start = time.time()
import argparse
from tunehouse import Task
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=0.5)
args = parser.parse_args()
task = Task.init(project_name="bench-hpo", task_name="trial")
ready = time.time()
logger = task.get_logger()
logger.report_scalar("objective", "value", 1.0 - (args.x - 0.3) ** 2, 0)
for name, moment in (("start", start), ("init", ready), ("close", time.time())):
    logger.report_scalar("clock", name, moment, 0)
task.close()
'''


def ts(moment: datetime | None) -> float:
    assert moment is not None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def med(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan  # inf counts as the largest


def open_home(root: Path, name: str):
    (root / name).mkdir(parents=True)
    settings = Settings.from_env({"TUNEHOUSE_HOME": str(root / name)})
    return settings, open_store(settings)


def base_task(store, script: str, params: dict[str, tuple[str, str]],
              argv: tuple[str, ...] = (), entry: str = "trial.py") -> str:
    """A base task running ``script`` (stored text); ``params``: {"[Section/]name": (value, type)}."""
    task = store.tasks.create_task(rec.TaskCreate(project="bench-hpo", name="base"))
    store.tasks.set_script(task.id, rec.Script(entry_point=entry, script_text=script,
                                               argv=[entry, *argv]))
    store.tasks.set_parameters(task.id, [rec.Parameter(
        section=key.rpartition("/")[0] or "Args", name=key.rpartition("/")[2], value=value,
        type=kind) for key, (value, kind) in params.items()])
    return task.id


def children(store, controller_id: str) -> list[rec.Task]:
    return store.tasks.list_tasks(rec.TaskQuery(parent_id=controller_id, limit=1000,
                                                order_by="created", descending=False)).tasks


def run_search(search: HyperParameterOptimizer, timeout: float) -> float:
    start = time.time()
    search.start()
    if not search.wait(timeout=timeout):
        search.stop()
        raise SystemExit(f"the search did not end within {timeout:g} s")
    return time.time() - start


def x_search(store, settings, base: str, trials: int, slots: int, **where) -> HyperParameterOptimizer:
    return HyperParameterOptimizer(
        base, [hs.UniformParameterRange("x", 0.0, 1.0)], "objective", "value",
        strategy="random", max_number_of_concurrent_tasks=slots, total_max_jobs=trials,
        seed=0, store=store, settings=settings, **where)


# ---------------------------------------------------------------- 1. controller overhead
SPACE = [hs.UniformParameterRange("Args/x", 0.0, 1.0), hs.UniformParameterRange("Args/y", 0.0, 1.0),
         hs.DiscreteParameterRange("Args/batch", [16, 32, 64])]


def quality(x: float, y: float) -> float:
    return 1.0 - (x - 0.3) ** 2 - (y - 0.6) ** 2


def in_memory(n: int, seed: int, engine: bool) -> float:
    """ms per trial of Optuna's TPE (constant liar, as the engine) ask/tell over ``SPACE``
    in memory, or of tunehouse's ``Engine`` (ask, one report, tell)."""
    config = hc.check(hc.SearchConfig(
        base_task_id="bench", space=hs.SearchSpace(SPACE), strategy="tpe", local=1, seed=seed,
        objectives=hc.objectives_from("objective", "value", "max"), early_stopping="none"))
    study = Engine(config, uuid.uuid4().hex) if engine else optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True))
    start = time.perf_counter()
    for _ in range(n):
        if isinstance(study, Engine):
            trial, spec = study.ask("bench")
            value = quality(float(spec.values["Args/x"]), float(spec.values["Args/y"]))
            study.report(trial, 0, value)
            study.tell(spec.number, TrialState.COMPLETE, [value])
        else:
            trial = study.ask()
            values = config.space.sample(trial)
            study.tell(trial, quality(float(values["Args/x"]), float(values["Args/y"])))
    return (time.perf_counter() - start) / n * 1000


def instant_agent(store, queue: str) -> None:
    """Claim every queued child, store one objective point, mark it completed."""
    while (task := store.queues.claim_task([queue], "bench-instant")) is not None:
        p = {p.name: float(p.value) for p in store.tasks.get_parameters(task.id)
             if p.section == "Args"}
        store.events.add_events(rec.EventBatch(batch_id=uuid.uuid4().hex, task_id=task.id,
                                               scalars=[rec.ScalarEvent(
            "objective", "value", 0, quality(p["x"], p["y"]), time.time())]))
        store.tasks.change_status(task.id, rec.StatusChange(status=rec.TaskStatus.completed,
                                                            reason="exit code 0"))


def controller_ticks(root: Path, n: int, concurrency: int, seed: int):
    """The search loop of a tpe search of ``n`` trials, tick by tick (see the module doc)."""
    settings, store = open_home(root, "ticks")
    base, queue = base_task(store, "pass\n", {"x": ("0.5", "float"), "y": ("0.5", "float"),
                                              "batch": ("32", "int")}), "bench-unserved"
    config = HyperParameterOptimizer(  # the configuration exactly as the optimizer checks it
        base, SPACE, "objective", "value", "max", strategy="tpe", execution_queue=queue,
        total_max_jobs=n, max_number_of_concurrent_tasks=concurrency, seed=seed, store=store,
        settings=settings).config
    controller = store.tasks.create_task(rec.TaskCreate(
        project="bench-hpo", name="HPO: ticks", type=rec.TaskType.optimizer))
    store.tasks.set_configuration(controller.id, rec.Configuration(
        name=hc.CONFIG_NAME, text=config.to_json()))
    controller = store.tasks.change_status(controller.id, rec.StatusChange(
        status=rec.TaskStatus.in_progress, reason="searching"))
    run = SearchRun(store, controller, config, store.tasks.get_task(base),
                    store.tasks.get_parameters(base), QueueExecution(store, queue), time.time())
    run.rebuild()
    run.progress = Progress(store, controller.id, config.objectives, run.started)
    wall = cpu = agent = ticks = late = 0
    while run.ending is None:
        w, c = time.perf_counter(), time.process_time()
        run.tick()
        wall, cpu = wall + time.perf_counter() - w, cpu + time.process_time() - c
        if len(run.finished_order) >= 0.9 * n:  # the last tenth: cost at ~n trials
            late += time.perf_counter() - w
        ticks, w = ticks + 1, time.perf_counter()
        instant_agent(store, queue)
        agent += time.perf_counter() - w
    counts = run.counts()
    store.close()
    return wall / n * 1000, cpu / n * 1000, agent / n * 1000, ticks, counts, late / n * 10000


def bench_overhead(args: argparse.Namespace, root: Path) -> None:
    n, c, noop = args.overhead_trials, args.overhead_concurrency, args.noop_trials
    print(f"== controller overhead: (a) {noop} no-op trial processes, local={args.local}; "
          f"(b), (c) {n} trials, tpe, concurrency {c}; embedded store", flush=True)
    settings, store = open_home(root, "noop")
    search = x_search(store, settings, base_task(store, "pass\n", {"x": ("0.5", "float")}),
                      noop, args.local, local=args.local)
    wall = run_search(search, 600)
    spans = [ts(k.completed) - ts(k.created) for k in children(store, search.id or "")]
    print(f"(a) no-op trials (script 'pass'): search wall {wall:.1f} s = "
          f"{wall / noop * 1000:.0f} ms per trial ({wall / noop * args.local * 1000:.0f} ms per "
          f"trial per slot); child created->completed median {med(spans) * 1000:.0f} ms; "
          f"{search.counts()} ('failed': no objective, as expected)", flush=True)
    store.close()
    ms, cpu, agent, ticks, counts, late = controller_ticks(root, n, c, args.seed)
    print(f"(b) controller loop alone (SearchRun.tick x {ticks}, no poll sleep): {ms:.1f} ms "
          f"wall, {cpu:.1f} ms CPU per trial (target <= 50 ms); over the last tenth of the "
          f"trials {late:.1f} ms wall per trial; the stand-in agent took another "
          f"{agent:.1f} ms per trial (not counted); {counts}", flush=True)
    print(f"(c) in memory, {n} trials: Optuna TPE ask/tell alone "
          f"{in_memory(n, args.seed, False):.1f} ms per trial (issue: ~3 ms); tunehouse Engine "
          f"ask/report/tell {in_memory(n, args.seed, True):.1f} ms per trial", flush=True)


# ---------------------------------------------------------------- 2. prune latency
def bench_prune(args: argparse.Namespace, root: Path) -> None:
    from tests.hpo.helpers import Env

    print(f"== report-to-prune latency: bohb, {args.prune_trials} trials of {args.prune_epochs} "
          f"epochs, {args.prune_sleep:g} s per epoch, local=2", flush=True)
    settings, store = open_home(root, "prune")
    base = Env(root / "prune", settings, store).base_task(epochs=args.prune_epochs,
                                                          sleep=args.prune_sleep)
    search = HyperParameterOptimizer(
        base, [hs.UniformParameterRange("x", 0.0, 1.0), hs.UniformParameterRange("y", 0.0, 1.0)],
        "objective", "value", "max", strategy="bohb", local=2, total_max_jobs=args.prune_trials,
        max_iteration_per_job=args.prune_epochs, seed=args.seed, store=store, settings=settings)
    search.start()
    seen: dict[str, float] = {}  # when each child was first seen ended (polled every 0.1 s)

    def note_ended_children() -> bool:
        """Whether the search ended (waiting up to 0.1 s); notes when children ended."""
        for task in store.tasks.list_tasks(rec.TaskQuery(
                parent_id=search.id, status=list(TERMINAL), limit=1000)).tasks:
            seen.setdefault(task.id, time.time())
        return search.wait(timeout=0.1)

    wait_until(note_ended_children, 600, "the pruning search to end", interval=0)
    figures: dict[str, list[float]] = {k: [] for k in (
        "read by the controller", "prune decided", "trial ended (0.1 s poll)",
        "child's 'completed' as stored")}
    late = 0
    for child in children(store, search.id or ""):
        outcome = next((Outcome.from_json(c.text) for c in store.tasks.get_configurations(
            child.id) if c.name == OUTCOME_CONFIG), None)
        if outcome is None or outcome.kind != "pruned":
            continue
        if child.status is not rec.TaskStatus.aborted:
            late += 1
            continue
        data = store.events.get_scalars(child.id, "clock", "wall")[0]
        reported = data.y[data.x.index(outcome.iteration)]
        for values, moment in zip(figures.values(), (
                outcome.seen or math.nan, outcome.decided, seen.get(child.id, math.nan),
                ts(child.completed)), strict=True):
            values.append(moment - reported)
    print(f"search {search.ending}; {late} completed before their prune reached them")
    for label, values in figures.items():
        if values:
            print(f"  report -> {label}: median {med(values):.2f} s, max {max(values):.2f} s "
                  f"over {len(values)} pruned trials"
                  + (" (target <= 2 s)" if label == "prune decided" else ""))
    store.close()


# ---------------------------------------------------------------- 3. wall time per trial
def trial_breakdown(label: str, store, search: HyperParameterOptimizer, wall: float,
                    slots: int) -> None:
    parts: dict[str, list[float]] = {k: [] for k in ("queue", "spawn", "init", "close", "all", "gap")}
    kids = children(store, search.id or "")
    for child in kids:
        clock = {s.series: s.last for s in store.events.get_metric_summaries(child.id)
                 if s.title == "clock" and s.last is not None}
        if child.status is not rec.TaskStatus.completed or len(clock) < 3:
            print(f"  {child.id}: {child.status.value} {child.status_reason}")
            continue
        for key, value in (("queue", ts(child.started) - ts(child.created)),
                           ("spawn", clock["start"] - ts(child.started)),
                           ("init", clock["init"] - clock["start"]),
                           ("close", ts(child.completed) - clock["close"]),
                           ("all", ts(child.completed) - ts(child.created))):
            parts[key].append(value)
        later = [ts(k.created) for k in kids if ts(k.created) > ts(child.completed)]
        if later:  # the controller's reaction: this trial's end to the next one's creation
            parts["gap"].append(min(later) - ts(child.completed))
    m = {k: med(v) * 1000 for k, v in parts.items()}
    print(f"[{label}] {len(kids)} trials, {slots} at a time: search wall {wall:.1f} s = "
          f"{wall / len(kids):.2f} s per trial ({wall / len(kids) * slots:.2f} s per trial per "
          f"slot). Medians per child: created->started {m['queue']:.0f} ms, started->script's "
          f"first line {m['spawn']:.0f} ms, imports + Task.init {m['init']:.0f} ms, report + "
          f"close + exit + recorded {m['close']:.0f} ms; created->completed {m['all']:.0f} ms; "
          f"completed->next trial created {m['gap']:.0f} ms", flush=True)


def bench_trial_time(args: argparse.Namespace, root: Path) -> None:
    print("== wall time per trial outside training: a script that only runs Task.init, "
          "reports once and closes (random strategy)", flush=True)
    settings, store = open_home(root, "trial-time")
    search = x_search(store, settings, base_task(store, TRIAL_SCRIPT, {"x": ("0.5", "float")}),
                      args.trial_time_trials, args.local, local=args.local)
    trial_breakdown(f"local={args.local}, embedded store", store, search,
                    run_search(search, 600), args.local)
    store.close()
    if args.no_server:
        return
    from tests.helpers.server import running_server

    with running_server(root / "server") as server:
        settings = Settings.from_env(server.client_env(home=root / "client"))
        store, queue = open_store(settings), f"bench-{uuid.uuid4().hex[:8]}"
        agent = subprocess.Popen(
            [sys.executable, "-m", "tunehouse", "agent", "--queue", queue, "--cpu-only",
             "--slots", str(args.local), "--name", queue], cwd=root, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=server.client_env(home=root / "agent"))
        try:
            while queue not in {w.name for w in store.queues.list_workers()}:
                if agent.poll() is not None:
                    raise SystemExit("the agent exited")
                time.sleep(0.2)
            base = base_task(store, TRIAL_SCRIPT, {"x": ("0.5", "float")})
            search = x_search(store, settings, base, args.agent_trials, args.local,
                              execution_queue=queue)
            trial_breakdown(f"server + agent process --slots {args.local}", store, search,
                            run_search(search, 600), args.local)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
            store.close()


# ---------------------------------------------------------------- 4. search quality
def branin(x: list[float]) -> float:
    return ((x[1] - 5.1 / (4 * math.pi ** 2) * x[0] ** 2 + 5 / math.pi * x[0] - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x[0]) + 10)


H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(x: list[float]) -> float:
    inner = (H6_A * (np.asarray(x) - H6_P) ** 2).sum(axis=1)
    return float(-(np.array([1.0, 1.2, 3.0, 3.2]) * np.exp(-inner)).sum())


#: function, bounds, global minimum, noise sd at the first epoch
FUNCTIONS = {"branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887, 10.0),
             "hartmann6": (hartmann6, [(0.0, 1.0)] * 6, -3.32237, 0.3)}


def simulate(name: str, strategy: str, seed: int, trials: int, epochs: int,
             concurrency: int) -> tuple[list[tuple[int, float]], int]:
    """(epochs spent, best so far) at each completed trial, and the trials started; the
    budget is trials x epochs (bohb starts trials until it is spent)."""
    fn, bounds, _, sigma = FUNCTIONS[name]
    config = hc.check(hc.SearchConfig(  # the fields HyperParameterOptimizer fills in
        base_task_id="in-process", space=hs.SearchSpace(
            [hs.UniformParameterRange(f"Args/x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]),
        objectives=hc.objectives_from("objective", "value", "min"), strategy=strategy,
        early_stopping=hc.default_early_stopping(strategy, False), total_max_jobs=100 * trials,
        max_concurrent=concurrency, local=concurrency, max_iteration_per_job=epochs, seed=seed))
    engine = Engine(config, study_name=f"{name}-{strategy}-{seed}")
    cap, spent, launched, best = trials * epochs, 0, 0, math.inf
    curve: list[tuple[int, float]] = []
    active: list[list] = []  # [trial, number, f(x), noise generator, epochs done]
    while spent < cap:
        while len(active) < concurrency and (strategy == "bohb" or launched < trials):
            trial, spec = engine.ask("in-process")
            true = fn([float(spec.values[f"Args/x{i}"]) for i in range(len(bounds))])
            active.append([trial, spec.number, true, np.random.default_rng([seed, spec.number]), 0])
            launched += 1
        for item in list(active):  # each running trial does one epoch, in turn
            trial, number, true, rng, done = item
            item[4] = done = done + 1
            spent += 1
            value = true + sigma * float(rng.standard_normal()) * (epochs - done) / (epochs - 1)
            if engine.report(trial, done - 1, value):  # 0-based epoch, like the Keras hook
                engine.tell(number, TrialState.PRUNED)
                active.remove(item)
            elif done >= epochs:
                engine.tell(number, TrialState.COMPLETE, [value])
                active.remove(item)
                best = min(best, value)
                curve.append((spent, best))
            if spent >= cap:
                break
    return curve, launched


def best_at(curve: list[tuple[int, float]], spent: float) -> float:
    return min((b for s, b in curve if s <= spent), default=math.inf)


def bench_quality(args: argparse.Namespace) -> None:
    seeds, trials, epochs = range(args.quality_seeds), args.quality_trials, args.quality_epochs
    cap, fractions = trials * epochs, (0.1, 0.2, 0.4, 0.6, 1.0)
    print(f"== search quality, tunehouse's Engine driven IN-PROCESS (no tasks, no processes): "
          f"{len(seeds)} seeds; budget {trials} trials x {epochs} epochs = {cap} epochs per "
          f"search, {args.quality_concurrency} trials at a time; epoch k reports f(x) + noise "
          f"shrinking linearly to 0 at epoch {epochs}; minimising", flush=True)
    for name, (_, _, optimum, sigma) in FUNCTIONS.items():
        runs = {s: [simulate(name, s, seed, trials, epochs, args.quality_concurrency)
                    for seed in seeds] for s in ("random", "tpe", "bohb")}
        print(f"[{name}] global minimum {optimum}, noise sd {sigma:g} at epoch 1; median over "
              f"seeds of the best after " + ", ".join(f"{f:.0%}" for f in fractions)
              + " of the epochs:")
        for strategy, found in runs.items():
            row = [med([best_at(curve, f * cap) for curve, _ in found]) for f in fractions]
            print(f"  {strategy:6s} " + "  ".join(f"{v:9.4f}" for v in row) + "   (trials per "
                  f"search: {med([n for _, n in found]):.0f} started, "
                  f"{med([len(c) for c, _ in found]):.0f} completed)")
        target = med([best_at(curve, cap) for curve, _ in runs["random"]])
        for strategy in ("tpe", "bohb"):
            need = [next((s for s, b in c if b <= target), math.inf) for c, _ in runs[strategy]]
            share = med([n / cap for n in need])
            print(f"  {strategy} epochs to match random's median best {target:.4f}: "
                  f"{['-' if math.isinf(n) else n for n in need]} of {cap}; median "
                  f"{'not within the budget' if math.isinf(share) else f'{share:.0%}'}"
                  + (" (target <= 40%)" if strategy == "bohb" else ""), flush=True)


# ---------------------------------------------------------------- mnist (optional, long)
def bench_mnist(args: argparse.Namespace, root: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    subset, e = root / "mnist-10k.npz", str(args.mnist_epochs)
    with np.load(args.mnist_path) as data:  # a fixed 10,000-image training subset
        pick = np.random.default_rng(0).permutation(len(data["y_train"]))[:10_000]
        val = np.random.default_rng(1).permutation(len(data["y_test"]))[:args.mnist_val]
        np.savez(subset, x_train=data["x_train"][pick], y_train=data["y_train"][pick],
                 x_test=data["x_test"][val], y_test=data["y_test"][val])
    print(f"== MNIST CNN (examples/keras_cnn.py; 10,000 training, {args.mnist_val} validation "
          f"images; examples/search_space.yaml): {args.mnist_trials} trials x {e} epochs, "
          f"local=2, {args.mnist_seeds} seed(s)", flush=True)
    params = {"General/learning_rate": ("0.001", "float"), "General/dropout_rate": ("0.3", "float"),
              "General/batch_size": ("32", "int"), "General/epochs": (e, "int"),
              "dataset": ("mnist", "str"), "mnist_path": (str(subset), "str"),
              "epochs": (e, "int"), "export_dir": ("exported-model", "str")}
    argv = ("--dataset", "mnist", "--mnist-path", str(subset), "--epochs", e, "--export-dir",
            "exported-model")
    for seed in range(args.mnist_seeds):
        curves: dict[str, list[tuple[int, float]]] = {}  # (epochs spent, best so far)
        for strategy in args.mnist_strategies.split(","):
            settings, store = open_home(root, f"mnist-{strategy}-{seed}")
            search = HyperParameterOptimizer(
                base_task(store, (REPO / "examples/keras_cnn.py").read_text(), params, argv,
                          entry="keras_cnn.py"),
                hs.parse_space((REPO / "examples/search_space.yaml").read_text()), "accuracy",
                "validation", "max", strategy=strategy, local=2, min_iteration_per_job=1,
                total_max_jobs=args.mnist_trials, max_iteration_per_job=args.mnist_epochs,
                max_failed_jobs=3, seed=seed, store=store, settings=settings)
            wall, curve = run_search(search, 24 * 3600), [(0, 0.0)]
            kids = sorted(children(store, search.id or ""), key=lambda c: ts(c.completed or c.updated))
            for child in kids:
                data = store.events.get_scalars(child.id, "accuracy", "validation")
                y = data[0].y[-1] if data and child.status is rec.TaskStatus.completed else None
                curve.append((curve[-1][0] + (len(data[0].x) if data else 0),
                              max(curve[-1][1], y if y is not None else 0.0)))
            curves[strategy] = curve
            said = next((x.text for x in store.events.get_logs(kids[0].id) if "dataset" in x.text),
                        "") if kids else ""
            print(f"  seed {seed} {strategy}: best validation accuracy {curve[-1][1]:.4f} after "
                  f"{curve[-1][0]} epochs in {wall:.0f} s; {search.ending}; a trial said "
                  f"'{said}'", flush=True)
            store.close()
        if "random" in curves and "bohb" in curves:
            (total, target), bohb = curves["random"][-1], curves["bohb"]
            need = next((s for s, b in bohb if b >= target), "-")
            print(f"  seed {seed}: bohb matched random's {target:.4f} after {need} epochs of "
                  f"random's {total} (target <= 40%)", flush=True)


SIZES = {"seed": 7, "local": 2, "overhead-trials": 1000, "overhead-concurrency": 4,
         "noop-trials": 20, "prune-trials": 12, "prune-epochs": 9, "prune-sleep": 0.2,
         "trial-time-trials": 10, "agent-trials": 6, "quality-seeds": 5, "quality-trials": 50,
         "quality-epochs": 9, "quality-concurrency": 2, "mnist-trials": 20, "mnist-epochs": 6,
         "mnist-val": 2000, "mnist-seeds": 1}
PARTS = {"overhead": bench_overhead, "prune": bench_prune, "trial-time": bench_trial_time,
         "quality": lambda args, root: bench_quality(args), "mnist": bench_mnist}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="overhead,prune,trial-time,quality",
                        help=f"comma-separated parts out of {', '.join(PARTS)}")
    for name, default in SIZES.items():
        parser.add_argument(f"--{name}", type=type(default), default=default,
                            help=f"default {default}")
    parser.add_argument("--no-server", action="store_true", help="trial-time: local only")
    parser.add_argument("--mnist-path", default=str(REPO.parent / "shared/data/mnist.npz"))
    parser.add_argument("--mnist-strategies", default="random,tpe,bohb")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"unknown part(s) {', '.join(sorted(set(parts) - set(PARTS)))}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-hpo-") as tmp:
        for part in parts:
            started = time.perf_counter()
            PARTS[part](args, Path(tmp))
            print(f"({part}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
