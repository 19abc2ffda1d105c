"""The main job's search run by what users pick instead, beside tunehouse's.

Same model (``examples/keras_cnn.py``'s ``create_model``), data (scikit-learn's digits as
the example loads them), space (``examples/search_space.yaml``: learning rate, dropout,
batch size) and budget (20 trials of at most 6 epochs, 2 at a time, a pruning rule from
the first epoch on) for:

* ``optuna``: Optuna alone, in this process: TPE with its Hyperband pruner, 2 threads;
* ``keras-tuner``: Keras Tuner's Hyperband (one trial at a time, its own trial count:
  ``--kt-iterations`` Hyperband iterations of at most 6 epochs);
* ``ray``: Ray Tune, trials as Ray workers: Optuna's TPE with the ASHA scheduler,
  2 trials at once;
* ``tunehouse``: ``benchmarks/hpo_main_job.py --modes warm`` (BOHB, local=2, every trial
  recorded in full, each in its own process).

Each prints its wall time (the search alone: Ray's start is printed apart), trials,
epochs trained, the sum of its epochs' training time (a Keras callback, epoch begin to end,
validation included), the best validation accuracy and the ratio wall / (training /
concurrency). Target: tunehouse at most 1.3x the best of the others' ratios, and ahead of
Ray Tune.

Keras Tuner and Ray Tune are optional extras, never needed by the tests:
``--setup`` installs them into ``.cache/peers-venv`` (over the project's environment,
with the project's versions as constraints), and each peer runs in a process of its own
with that interpreter.

Run: ``.venv/bin/python benchmarks/hpo_peers.py [--setup] [--peers optuna,keras-tuner,ray,tunehouse]
[--repeats 1]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PEERS_VENV = REPO / ".cache" / "peers-venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
PEER_PACKAGES = ("keras-tuner", "ray[tune]")
LEARNING_RATE = (0.0001, 0.01)  # examples/search_space.yaml
DROPOUTS = [0.2, 0.3, 0.4]
BATCH_SIZES = [16, 32, 64]

_EPOCHS: list[float] = []  # epoch durations of this process's trials (the clock callback)


def setup() -> None:
    """Build ``.cache/peers-venv``: Keras Tuner and Ray Tune over the project's packages."""
    uv = Path(sys.executable).parent / "uv"
    frozen = subprocess.run([str(uv), "pip", "freeze", "--python", sys.executable],
                            capture_output=True, text=True, check=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(line for line in frozen.splitlines()
                                    if line and not line.startswith("-e")
                                    and not line.startswith("tunehouse")))
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(PEERS_VENV)],
                   check=True)
    subprocess.run([str(uv), "pip", "install", "-q", "--python", str(PEERS_PYTHON),
                    "--compile-bytecode", "-c", constraints.name, *PEER_PACKAGES], check=True)
    os.unlink(constraints.name)
    site = subprocess.run([str(PEERS_PYTHON), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    project_site = sysconfig.get_paths()["purelib"]
    (Path(site) / "tunehouse-project-site.pth").write_text(
        f"import site; site.addsitedir({project_site!r})\n")
    print(f"installed {', '.join(PEER_PACKAGES)} into {PEERS_VENV}")


# ---------------------------------------------------------------- inside a peer's process
def data() -> tuple[Any, Any, Any, Any]:
    sys.path.insert(0, str(REPO / "examples"))
    from keras_cnn import load_digits_28x28

    return load_digits_28x28()


def model(learning_rate: float, dropout_rate: float) -> Any:
    sys.path.insert(0, str(REPO / "examples"))
    from keras_cnn import create_model

    return create_model(learning_rate, dropout_rate)


def clock_callback() -> Any:
    """A Keras callback adding each epoch's duration to ``_EPOCHS`` (state on the class:
    Keras Tuner deep-copies the callbacks it is given)."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        began = [0.0]

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            type(self).began[0] = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            _EPOCHS.append(time.perf_counter() - type(self).began[0])

    return EpochClock()


def run_optuna(args: argparse.Namespace) -> dict:
    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x, y, xv, yv = data()

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", *LEARNING_RATE)
        dropout = trial.suggest_categorical("dropout_rate", DROPOUTS)
        batch = trial.suggest_categorical("batch_size", BATCH_SIZES)
        best = [0.0]

        class Report(keras.callbacks.Callback):
            pruned, began = False, 0.0

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.began = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                _EPOCHS.append(time.perf_counter() - self.began)
                value = float((logs or {})["val_accuracy"])
                best[0] = max(best[0], value)
                trial.report(value, epoch + 1)
                if trial.should_prune():
                    self.pruned = True
                    self.model.stop_training = True

        report = Report()
        model(lr, dropout).fit(x, y, batch_size=batch, epochs=args.epochs,
                               validation_data=(xv, yv), verbose=0, callbacks=[report])
        if report.pruned:
            raise optuna.TrialPruned()
        return best[0]

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args.epochs))
    started = time.perf_counter()
    study.optimize(objective, n_trials=args.trials, n_jobs=args.concurrency)
    wall = time.perf_counter() - started
    return {"wall": wall, "trials": len(study.trials), "concurrency": args.concurrency,
            "best": study.best_value}


def run_keras_tuner(args: argparse.Namespace) -> dict:
    import keras_tuner as kt

    x, y, xv, yv = data()

    class CNN(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            return model(hp.Float("learning_rate", *LEARNING_RATE),
                         hp.Choice("dropout_rate", DROPOUTS))

        def fit(self, hp: Any, built: Any, *fit_args: Any, **kwargs: Any) -> Any:
            return built.fit(*fit_args, batch_size=hp.Choice("batch_size", BATCH_SIZES),
                             **kwargs)

    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-kt-") as tmp:
        tuner = kt.Hyperband(CNN(), objective="val_accuracy", max_epochs=args.epochs,
                             factor=3, hyperband_iterations=args.kt_iterations,
                             seed=args.seed, directory=tmp, project_name="peers",
                             overwrite=True)
        started = time.perf_counter()
        tuner.search(x, y, validation_data=(xv, yv), verbose=0, callbacks=[clock_callback()])
        wall = time.perf_counter() - started
        trials = list(tuner.oracle.trials.values())
    best = max((t.score for t in trials if t.score is not None), default=math.nan)
    return {"wall": wall, "trials": len(trials), "concurrency": 1, "best": best}


def ray_trainable(config: dict) -> None:
    """One Ray Tune trial: reports validation accuracy and the epoch's duration."""
    import keras
    from ray import tune

    x, y, xv, yv = data()

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            tune.report({"val_accuracy": float((logs or {})["val_accuracy"]),
                         "epoch_seconds": time.perf_counter() - self.began})

    model(config["learning_rate"], config["dropout_rate"]).fit(
        x, y, batch_size=config["batch_size"], epochs=config["epochs"],
        validation_data=(xv, yv), verbose=0, callbacks=[Report()])


def run_ray(args: argparse.Namespace) -> dict:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    began = time.perf_counter()
    ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    ray_start = time.perf_counter() - began
    space = {"learning_rate": tune.uniform(*LEARNING_RATE),
             "dropout_rate": tune.choice(DROPOUTS), "batch_size": tune.choice(BATCH_SIZES),
             "epochs": args.epochs}
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-ray-") as tmp:
        tuner = tune.Tuner(
            tune.with_resources(ray_trainable, {"cpu": 1}), param_space=space,
            tune_config=tune.TuneConfig(
                metric="val_accuracy", mode="max", num_samples=args.trials,
                max_concurrent_trials=args.concurrency,
                search_alg=OptunaSearch(seed=args.seed),
                scheduler=ASHAScheduler(max_t=args.epochs, grace_period=1, reduction_factor=3)),
            run_config=tune.RunConfig(storage_path=tmp, name="peers", verbose=0))
        started = time.perf_counter()
        results = tuner.fit()
        wall = time.perf_counter() - started
        for result in results:
            frame = result.metrics_dataframe
            if frame is not None and "epoch_seconds" in frame:
                _EPOCHS.extend(float(v) for v in frame["epoch_seconds"])
        best = results.get_best_result().metrics["val_accuracy"]
    ray.shutdown()
    return {"wall": wall, "trials": len(results), "concurrency": args.concurrency,
            "best": best, "note": f"ray.init {ray_start:.1f} s not counted"}


PEERS = {"optuna": run_optuna, "keras-tuner": run_keras_tuner, "ray": run_ray}


def peer_main(args: argparse.Namespace) -> None:
    """``--peer NAME``: run one peer here and print its result as the last line (JSON)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = PEERS[args.peer](args)
    result.update(epochs=len(_EPOCHS), training=sum(_EPOCHS))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- the comparison
def run_peer(name: str, args: argparse.Namespace) -> dict:
    common = ["--trials", str(args.trials), "--epochs", str(args.epochs), "--concurrency",
              str(args.concurrency), "--seed", str(args.seed)]
    if name == "tunehouse":
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, str(REPO / "benchmarks/hpo_main_job.py"),
                       "--modes", "warm", "--json", out.name, *common]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"tunehouse failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
            return json.loads(Path(out.name).read_text())["warm"]
    python = PEERS_PYTHON if name != "optuna" else Path(sys.executable)
    if not python.exists():
        raise SystemExit(f"{name} needs {PEERS_VENV}: run with --setup first")
    command = [str(python), __file__, "--peer", name, "--kt-iterations",
               str(args.kt_iterations), *common]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(result: dict) -> float:
    return result["wall"] / (result["training"] / result["concurrency"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help=f"build {PEERS_VENV} first")
    parser.add_argument("--peers", default="optuna,keras-tuner,ray,tunehouse")
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kt-iterations", type=int, default=4,
                        help="Keras Tuner's Hyperband iterations (about 5 trials each)")
    args = parser.parse_args()
    if args.peer:
        peer_main(args)
        return
    if args.setup:
        setup()
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = set(names) - {*PEERS, "tunehouse"}
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(sorted(unknown))}")
    results: dict[str, list[dict]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in (names if repeat % 2 == 0 else names[::-1]):
            result = run_peer(name, args)
            results[name].append(result)
            print(f"[{name}, run {repeat + 1}] wall {result['wall']:.1f} s, "
                  f"{result['trials']} trials, {result['epochs']} epochs trained "
                  f"({result['training']:.1f} s), best validation accuracy "
                  f"{result['best']:.4f}, {result['concurrency']} at a time: ratio "
                  f"{ratio(result):.2f}" + (f" ({result['note']})" if result.get("note")
                                             else ""), flush=True)
    print("summary (medians over runs): name, wall, ratio, best validation accuracy")
    medians = {name: statistics.median(ratio(r) for r in runs) for name, runs in results.items()}
    for name, runs in results.items():
        print(f"    {name:<12} {statistics.median(r['wall'] for r in runs):7.1f} s "
              f"{medians[name]:6.2f} {statistics.median(r['best'] for r in runs):8.4f}")
    others = {name: value for name, value in medians.items() if name != "tunehouse"}
    if "tunehouse" in medians and others:
        best = min(others, key=others.__getitem__)
        print(f"tunehouse's ratio {medians['tunehouse']:.2f} is "
              f"{medians['tunehouse'] / others[best]:.2f}x the best other's ({best}, "
              f"{others[best]:.2f}; target <= 1.3x)"
              + (f"; Ray Tune's {medians['ray']:.2f} (target: tunehouse below)"
                 if "ray" in medians else ""))


if __name__ == "__main__":
    main()
