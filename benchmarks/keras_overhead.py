"""Overhead of tunehouse's Keras tracking on the example's CNN (examples/keras_cnn.py).

Measures the epoch time of the document's model without the hook, with per-epoch
reporting (what ``Task.init`` does by default) and with per-batch reporting
(``batch_frequency=1``), interleaved inside one tracked process, plus a process without
tunehouse at all, in alternating rounds; prints the median epoch time per mode and the
overhead in percent. Targets: <= 2 % per epoch,
<= 5 % per batch. The first epoch of every fit (tracing, warm-up) is left out.

    .venv/bin/python benchmarks/keras_overhead.py                      # digits (offline)
    .venv/bin/python benchmarks/keras_overhead.py --mnist-path /work/shared/data/mnist.npz
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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = ("off", "epoch", "batch")


def worker(tracked: bool, dataset: str, mnist_path: str | None, epochs: int,
           fits: int) -> None:
    """One process. Untracked: ``fits`` plain fits. Tracked (after ``Task.init``): ``fits``
    rounds of three interleaved fits: the original ``fit`` without the hook ("off"), the
    hooked fit ("epoch") and the hooked fit with per-batch reporting ("batch"). Prints
    the epoch times of each mode as JSON."""
    sys.path.insert(0, str(REPO_ROOT / "examples"))
    task = None
    if tracked:
        from tunehouse import Task

        task = Task.init(project_name="benchmarks/keras", task_name="overhead")
    import keras_cnn  # type: ignore[import-not-found]
    import tensorflow as tf

    if dataset == "mnist":
        x, y, x_val, y_val = keras_cnn.load_mnist(mnist_path)
    else:
        x, y, x_val, y_val = keras_cnn.load_digits_28x28()

    class EpochTimer(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            self.times.append(time.perf_counter() - self._start)

    hooked_fit = tf.keras.Model.fit
    plain_fit = getattr(hooked_fit, "__wrapped__", hooked_fit)
    modes = ("off", "epoch", "batch") if tracked else ("untracked",)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(fits):
        for mode in modes:
            model = keras_cnn.create_model(0.001, 0.3)
            timer = EpochTimer()
            callbacks: list[object] = [timer]
            if mode == "batch":
                from tunehouse.integrations.keras import keras_callback

                callbacks.append(keras_callback(batch_frequency=1))
            fit = plain_fit if mode in ("off", "untracked") else hooked_fit
            fit(model, x, y, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                verbose=0, callbacks=callbacks)
            times[mode] += timer.times[1:]
    if task is not None:
        task.close()
    print("TIMES " + json.dumps(times))


def run_worker(tracked: bool, args: argparse.Namespace, home: str) -> dict[str, list[float]]:
    command = [sys.executable, __file__, "--worker", "tracked" if tracked else "untracked",
               "--dataset", args.dataset, "--epochs", str(args.epochs), "--fits", str(args.fits)]
    if args.mnist_path:
        command += ["--mnist-path", args.mnist_path]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEHOUSE_")}
    env.update(TUNEHOUSE_HOME=home, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("TIMES "):
            return dict(json.loads(line[6:]))
    raise SystemExit(f"worker failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-path", default=None, help="real MNIST (mnist.npz)")
    parser.add_argument("--dataset", choices=["digits", "mnist"], default=None)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of all modes")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per fit")
    parser.add_argument("--fits", type=int, default=None, help="fits per process")
    parser.add_argument("--worker", choices=["tracked", "untracked"], default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dataset = args.dataset or ("mnist" if args.mnist_path else "digits")
    mnist = args.dataset == "mnist"
    args.epochs = args.epochs or (3 if mnist else 4)
    args.fits = args.fits or (1 if mnist else 3)
    if args.worker:
        worker(args.worker == "tracked", args.dataset, args.mnist_path, args.epochs, args.fits)
        return

    times: dict[str, list[float]] = {mode: [] for mode in (*MODES, "untracked")}
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-") as home:
        for round_no in range(args.rounds):
            for tracked in (False, True):
                for mode, values in run_worker(tracked, args, home).items():
                    times[mode] += values
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    base = statistics.median(times["off"])
    untracked = statistics.median(times["untracked"])
    print(f"dataset: {args.dataset}; epochs per fit: {args.epochs}; fits per mode and "
          f"process: {args.fits}; rounds: {args.rounds} (first epoch of each fit excluded)")
    print(f"{'mode':<11}{'epochs':>8}{'median s':>11}{'vs off':>11}{'vs untracked':>14}")
    for mode in ("untracked", *MODES):
        median = statistics.median(times[mode])
        print(f"{mode:<11}{len(times[mode]):>8}{median:>11.4f}"
              f"{(median - base) / base * 100:>+10.2f}%{(median - untracked) / untracked * 100:>+13.2f}%")
    print("off: Keras' own fit inside a tracked process (no hook); epoch/batch: the hooked "
          "fit in the same process, interleaved; untracked: a process without tunehouse")


if __name__ == "__main__":
    main()
