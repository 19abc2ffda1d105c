"""The source document's Keras CNN, tracked by tunehouse with two lines.

Runs offline by default on scikit-learn's real handwritten digits (1,797 8x8 images,
scaled up to MNIST's 28x28x1); ``--dataset mnist`` uses the real MNIST (downloaded by
Keras, or read from ``--mnist-path`` / a local ``mnist.npz``).

    python examples/keras_cnn.py --epochs 2
    python examples/keras_cnn.py --dataset mnist --mnist-path /data/mnist.npz

Everything tunable comes from ``params`` after ``task.connect``: under an agent
(``TUNEHOUSE_TASK_ID`` set) those are the task's stored, possibly edited, values. That is
what makes this script the base task of a hyperparameter search.
"""

from __future__ import annotations

import argparse

import numpy as np

from tunehouse import Task

DIGITS_VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0


def create_model(learning_rate: float = 0.001, dropout_rate: float = 0.5):  # type: ignore[no-untyped-def]
    """The document's model: two conv blocks, dropout, a dense head."""
    from tensorflow import keras

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


def load_mnist(path: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from a local ``mnist.npz`` (keys x_train/y_train/x_test/y_test) or, without a
    path, through ``keras.datasets.mnist`` (needs a network the first time)."""
    if path:
        with np.load(path) as data:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]
    else:
        from tensorflow import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()

    def prepare(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) / 255.0)[..., np.newaxis]

    return prepare(x_train), y_train.astype(np.int64), prepare(x_test), y_test.astype(np.int64)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                        help="digits: offline scikit-learn digits (default); mnist: real MNIST")
    parser.add_argument("--mnist-path", default=None,
                        help="local mnist.npz for --dataset mnist (else Keras downloads it)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default: the connected params' value, 10)")
    parser.add_argument("--export-dir", default="exports/keras_cnn",
                        help="where the SavedModel is exported at the end")
    parser.add_argument("--mirrored", action="store_true",
                        help="train inside a tf.distribute.MirroredStrategy scope")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    task = Task.init(project_name="examples/mnist", task_name="keras cnn",
                     task_type="training")
    params = {"learning_rate": 0.001, "dropout_rate": 0.3, "batch_size": 32, "epochs": 10}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    params = task.connect(params)

    import tensorflow as tf

    if args.dataset == "mnist":
        x_train, y_train, x_val, y_val = load_mnist(args.mnist_path)
    else:
        x_train, y_train, x_val, y_val = load_digits_28x28()
    print(f"dataset {args.dataset}: {len(x_train)} training, {len(x_val)} validation images")

    strategy = tf.distribute.MirroredStrategy() if args.mirrored else tf.distribute.get_strategy()
    with strategy.scope():
        model = create_model(float(params["learning_rate"]), float(params["dropout_rate"]))
    history = model.fit(
        x_train, y_train,
        batch_size=int(params["batch_size"]),
        epochs=int(params["epochs"]),
        validation_data=(x_val, y_val),
        verbose=2,
    )
    model.export(args.export_dir)
    accuracy = float(history.history["val_accuracy"][-1])
    print(f"task id: {task.id}")
    print(f"final validation accuracy: {accuracy:.4f}")
    task.close()
    return accuracy


if __name__ == "__main__":
    main()
