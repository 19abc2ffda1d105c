"""The source document's Keras CNN, tracked by tunehouse with two lines.

Keras 3 on any backend: ``KERAS_BACKEND=tensorflow`` (the default), ``jax`` or ``torch``.
TensorFlow is imported only by the TensorFlow backend and by ``--mirrored``
(``tf.distribute.MirroredStrategy``, which needs that backend).

Runs offline by default on scikit-learn's real handwritten digits (1,797 8x8 images,
scaled up to MNIST's 28x28x1); ``--dataset mnist`` uses the real MNIST (read from
``--mnist-path``, a local ``mnist.npz``, else downloaded by Keras).

    python examples/keras_cnn.py --epochs 2
    KERAS_BACKEND=jax python examples/keras_cnn.py --epochs 2
    python examples/keras_cnn.py --dataset mnist --mnist-path /data/mnist.npz

Everything tunable comes from ``params`` after ``task.connect``: under an agent
(``TUNEHOUSE_TASK_ID`` set) those are the task's stored, possibly edited, values. That is
what makes this script the base task of a hyperparameter search.

At the end the model is exported as a TensorFlow SavedModel (``--export-dir``) with the
TensorFlow backend, and saved as ``<export-dir>/keras_cnn.keras`` with the others; either
way tunehouse registers it as an output model of the task.

The data it trains on is recorded as the task's input dataset (``task.add_input_dataset``):
scikit-learn's ``digits.csv.gz``, the ``--mnist-path`` file, or, through the Keras
integration, the ``mnist.npz`` that ``keras.datasets.mnist.load_data`` cached.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

import numpy as np

from tunehouse import Task

DIGITS_VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0


def create_model(learning_rate: float = 0.001, dropout_rate: float = 0.5) -> Any:
    """The document's model: two conv blocks, dropout, a dense head."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Dropout(dropout_rate),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def load_digits_28x28() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, each pixel repeated 3x3 (24x24) and padded to 28x28 like
    MNIST's centred digits; float32 in [0, 1]; a fixed 80/20 train/validation split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    upscaled = np.kron(images, np.ones((1, 3, 3), dtype=np.float32))
    padded = np.pad(upscaled, ((0, 0), (2, 2), (2, 2)))[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    n_val = int(len(labels) * DIGITS_VALIDATION_FRACTION)
    val, train = order[:n_val], order[n_val:]
    return padded[train], labels[train], padded[val], labels[val]


def digits_data_file() -> str:
    """The file ``load_digits`` reads: ``sklearn/datasets/data/digits.csv.gz`` inside the
    installed scikit-learn (recorded as the task's input dataset)."""
    import sklearn.datasets

    return os.path.join(os.path.dirname(sklearn.datasets.__file__), "data", "digits.csv.gz")


def load_mnist(path: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from a local ``mnist.npz`` (keys x_train/y_train/x_test/y_test) or, without a
    path, through ``keras.datasets.mnist`` (needs a network the first time)."""
    if path:
        with np.load(path) as data:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]
    else:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()

    def prepare(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) / 255.0)[..., np.newaxis]

    return prepare(x_train), y_train.astype(np.int64), prepare(x_test), y_test.astype(np.int64)


def distribution_scope(mirrored: bool) -> Any:
    """``tf.distribute.MirroredStrategy().scope()`` for ``--mirrored`` (the one place this
    script imports TensorFlow itself), else a scope that does nothing."""
    if not mirrored:
        return contextlib.nullcontext()
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"--mirrored needs KERAS_BACKEND=tensorflow, not "
                         f"{keras.backend.backend()!r}")
    import tensorflow as tf

    return tf.distribute.MirroredStrategy().scope()


def save_model(model: Any, export_dir: str) -> str:
    """Export a SavedModel with the TensorFlow backend, else save a ``.keras`` file (a
    SavedModel needs TensorFlow); the path written."""
    import keras

    if keras.backend.backend() == "tensorflow":
        model.export(export_dir)
        return export_dir
    os.makedirs(export_dir, exist_ok=True)
    path = os.path.join(export_dir, "keras_cnn.keras")
    model.save(path)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                        help="digits: offline scikit-learn digits (default); mnist: real MNIST")
    parser.add_argument("--mnist-path", default=None,
                        help="local mnist.npz for --dataset mnist (else Keras downloads it)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default: the connected params' value, 10)")
    parser.add_argument("--export-dir", default="exports/keras_cnn",
                        help="where the model is exported at the end")
    parser.add_argument("--mirrored", action="store_true",
                        help="train inside a tf.distribute.MirroredStrategy scope "
                             "(TensorFlow backend)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    task = Task.init(project_name="examples/mnist", task_name="keras cnn",
                     task_type="training")
    params = {"learning_rate": 0.001, "dropout_rate": 0.3, "batch_size": 32, "epochs": 10}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    params = task.connect(params)

    import keras

    if args.dataset == "mnist":
        x_train, y_train, x_val, y_val = load_mnist(args.mnist_path)
        if args.mnist_path:  # without it, tunehouse records keras.datasets.mnist's file
            task.add_input_dataset(args.mnist_path, name="mnist")
    else:
        x_train, y_train, x_val, y_val = load_digits_28x28()
        task.add_input_dataset(digits_data_file(), name="digits")
    print(f"dataset {args.dataset}: {len(x_train)} training, {len(x_val)} validation images")
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")

    with distribution_scope(args.mirrored):
        model = create_model(float(params["learning_rate"]), float(params["dropout_rate"]))
    history = model.fit(
        x_train, y_train,
        batch_size=int(params["batch_size"]),
        epochs=int(params["epochs"]),
        validation_data=(x_val, y_val),
        verbose=2,
    )
    print(f"model saved to {save_model(model, args.export_dir)}")
    accuracy = float(history.history["val_accuracy"][-1])
    print(f"task id: {task.id}")
    print(f"final validation accuracy: {accuracy:.4f}")
    task.close()
    return accuracy


if __name__ == "__main__":
    main()
