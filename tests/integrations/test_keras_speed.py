"""The Keras integration's data side (:mod:`tunehouse.integrations.keras_data`): training
speed reported by the fit callback, and ``keras.datasets`` loaders recorded as input
datasets. The arithmetic is checked in-process; one subprocess with real TensorFlow checks
the hooks, without any network: Keras' own ``get_file`` fetches a prepared ``mnist.npz``
from a ``file://`` URL instead of Google's (the one thing replaced, before tunehouse wraps
it), so the real ``mnist.load_data``, its caching in ``$KERAS_HOME`` and the wrappers run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integrations.conftest import ScriptRun, open_home_store, scalars_by_key
from tunehouse.integrations import keras_data
from tunehouse.integrations.keras_data import EpochSpeed, FitSize, size_from_fit_arguments
from tunehouse.sdk.datasets import input_datasets


class _NoShape:
    """Stands for a ``tf.data.Dataset`` or a generator: no first dimension to read."""


def test_fit_size_from_arrays_and_datasets() -> None:
    x = np.zeros((120, 6))
    assert size_from_fit_arguments({"x": x}) == FitSize(120, 32, None)
    assert size_from_fit_arguments({"x": x, "batch_size": 20,
                                    "validation_split": 0.25}) == FitSize(90, 20, None)
    assert size_from_fit_arguments({"x": x, "validation_split": 0.3}).samples == 84  # floor
    assert size_from_fit_arguments({"x": [x, np.zeros((120, 2))]}).samples == 120
    assert size_from_fit_arguments({"x": {"a": x}, "steps_per_epoch": 3}) == FitSize(120, 32, 3)
    assert size_from_fit_arguments({"x": _NoShape()}) == FitSize(None, None, None)
    assert size_from_fit_arguments({"x": _NoShape(), "steps_per_epoch": 5}).steps_per_epoch == 5


def test_epoch_work_prefers_the_dataset_size() -> None:
    speed = EpochSpeed()
    cases: list[tuple[FitSize | None, dict[str, Any], tuple[int | None, int | None]]] = [
        (FitSize(90, 20, None), {"steps": 5}, (90, 5)),  # the last batch holds 10
        (FitSize(120, 20, 3), {"steps": 3}, (60, 3)),  # steps_per_epoch: steps x batch
        (FitSize(None, None, None), {"steps": 4}, (None, 4)),  # a dataset: steps only
        (None, {"steps": 4, "batch_size": 8}, (32, 4)),  # what older Keras gives in params
        (None, {"steps": 4, "samples": 30, "batch_size": 8}, (30, 4)),
        (None, {}, (None, None)),
    ]
    for size, params, expected in cases:
        speed._size = size
        assert speed.epoch_work(params) == expected, (size, params)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    ticks: list[float] = []
    feed = itertools.count()
    monkeypatch.setattr(keras_data.time, "perf_counter", lambda: ticks[next(feed)])
    yield ticks


def test_speed_reports_per_epoch_over_the_training_part(clock: list[float]) -> None:
    reports: list[tuple[str, str, float, int]] = []

    def report(title: str, series: str, value: float, iteration: int) -> None:
        reports.append((title, series, value, iteration))

    speed = EpochSpeed()
    with keras_data.fit_size({"x": np.zeros((90, 2)), "batch_size": 20}):
        speed.train_begin()
    clock.extend([10.0, 12.0, 13.0])  # begin; validation starts at +2 s; ends at +3 s
    speed.epoch_begin()
    speed.training_done()
    speed.epoch_end(4, {"steps": 5}, report)
    assert reports == [("speed", "epoch_seconds", 3.0, 4),
                       ("speed", "examples_per_second", 45.0, 4)]

    reports.clear()
    speed.train_begin()  # no fit arguments seen (a fit the hook did not wrap): steps only
    clock.extend([20.0, 24.0])
    speed.epoch_begin()
    speed.epoch_end(0, {"steps": 8}, report)
    assert reports == [("speed", "epoch_seconds", 4.0, 0),
                       ("speed", "steps_per_second", 2.0, 0)]
    speed.epoch_end(1, {"steps": 8}, report)  # no epoch begun: nothing
    assert len(reports) == 2


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def add_input_dataset(self, path: str, name: str) -> None:
        self.calls.append((name, path))


def test_load_data_records_what_get_file_returned(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded path is what the loader's ``get_file`` returned (one file, or the
    folder of several); without any, the ``path`` argument in Keras' cache."""
    files = tmp_path / "elsewhere" / "fashion-mnist"
    files.mkdir(parents=True)
    for name in ("a.gz", "b.gz"):
        (files / name).write_bytes(b"x")
    get_file = keras_data._wrap_get_file(lambda fname: str(files / fname))
    task = _Recorder()

    def one(path: str = "a.gz") -> str:
        return get_file(path)

    def several() -> list[str]:
        return [get_file("a.gz"), get_file("b.gz")]

    assert keras_data._wrap_load_data("mnist", lambda: task, one)(path="b.gz") == str(
        files / "b.gz")
    keras_data._wrap_load_data("fashion_mnist", lambda: task, several)()
    assert task.calls == [("mnist", str(files / "b.gz")), ("fashion_mnist", str(files))]
    assert get_file("a.gz") == str(files / "a.gz")  # outside a loader: just get_file

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delitem(keras_data.sys.modules, "keras.src.backend.config", raising=False)
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    (tmp_path / "keras" / "datasets" / "boston.npz").write_bytes(b"x")

    def no_get_file(path: str = "boston.npz") -> None:
        return None

    keras_data._wrap_load_data("boston_housing", lambda: task, no_get_file)()
    assert task.calls[-1] == ("boston_housing", str(tmp_path / "keras" / "datasets" / "boston.npz"))
    assert keras_data._wrap_load_data("none", lambda: None, no_get_file)() is None


TF_SCRIPT = """
    import json, logging, os
    import numpy as np
    import keras
    import keras.src.datasets.mnist as mnist_impl

    cache = os.environ["KERAS_HOME"]
    rng = np.random.default_rng(0)
    source = os.path.abspath("mnist-source.npz")
    np.savez(source, x_train=rng.integers(0, 255, (64, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 64, dtype=np.uint8),
             x_test=rng.integers(0, 255, (16, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, 16, dtype=np.uint8))
    keras_get_file = mnist_impl.get_file

    def offline_get_file(fname=None, origin=None, file_hash=None, **kwargs):
        if fname == "unreachable.npz":
            raise ConnectionError("no network in this test")
        return keras_get_file(fname=fname, origin="file://" + source, **kwargs)

    mnist_impl.get_file = offline_get_file  # in place of the download, before tunehouse

    # a loader that reads no file through get_file: its path= argument in the cache is used
    os.makedirs(os.path.join(cache, "datasets"), exist_ok=True)
    with open(os.path.join(cache, "datasets", "boston_housing.npz"), "wb") as fh:
        fh.write(b"prepared")

    def boston_load_data(path="boston_housing.npz", test_split=0.2, seed=113):
        return (np.zeros((4, 13)), np.zeros(4)), (np.zeros((1, 13)), np.zeros(1))

    keras.datasets.boston_housing.load_data = boston_load_data
    original_mnist = keras.datasets.mnist.load_data

    warnings = []

    class Collect(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    logging.getLogger("tunehouse.integrations.keras").addHandler(Collect(logging.WARNING))

    from tunehouse import Task

    task = Task.init(project_name="integrations/keras", task_name="data and speed")
    import tensorflow as tf
    found = {"patched": keras.datasets.mnist.load_data is not original_mnist}

    def dataset_path():
        return task.artifacts["dataset/mnist"].metadata["path"]

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    found["shapes"] = [list(x_train.shape), list(x_test.shape)]
    found["default"] = dataset_path()
    tf.keras.datasets.mnist.load_data(path="mnist-copy.npz")
    found["tf_keras_path"] = dataset_path()
    try:
        keras.datasets.mnist.load_data(path="unreachable.npz")
    except ConnectionError as exc:
        found["error"] = str(exc)
    found["after_error"] = dataset_path()
    keras.datasets.boston_housing.load_data()
    found["boston"] = task.artifacts["dataset/boston_housing"].metadata["path"]

    def broken(self, *args, **kwargs):
        raise RuntimeError("recording broke")

    Task.add_input_dataset, saved = broken, Task.add_input_dataset
    found["despite_failure"] = len(keras.datasets.mnist.load_data()[0][0])
    Task.add_input_dataset = saved
    found["warnings"] = warnings

    x = rng.random((120, 6), dtype=np.float32)
    y = (x.sum(axis=1) > 3).astype("int64")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=20, validation_split=0.25, verbose=0)  # 90 examples
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(30)  # 4 steps, no batch size
    model.fit(dataset, epochs=4, initial_epoch=2, verbose=0)
    task.close()
    found["task"] = task.id
    found["restored"] = (keras.datasets.mnist.load_data is original_mnist
                         and mnist_impl.get_file is offline_get_file
                         and keras.datasets.boston_housing.load_data is boston_load_data)
    keras.datasets.mnist.load_data()  # no task: nothing recorded, nothing breaks
    print("RESULT " + json.dumps(found))
"""


@pytest.mark.tf
def test_keras_records_datasets_and_speed(run_script: Callable[..., ScriptRun], home: Path,
                                          tmp_path: Path) -> None:
    from tests.helpers.server import clean_env

    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    env = clean_env(TUNEHOUSE_HOME=str(home), KERAS_HOME=str(keras_home))
    found = run_script(TF_SCRIPT, env=env).result
    cached = keras_home / "datasets"
    assert found["patched"] and found["restored"]
    assert found["shapes"] == [[64, 28, 28], [16, 28, 28]]
    assert found["default"] == str(cached / "mnist.npz")
    assert found["tf_keras_path"] == str(cached / "mnist-copy.npz")
    assert found["error"] == "no network in this test"
    assert found["after_error"] == found["tf_keras_path"], "a failed load records nothing"
    assert found["boston"] == str(cached / "boston_housing.npz")
    assert found["despite_failure"] == 64
    assert found["warnings"] == ["tunehouse could not record keras dataset mnist: "
                                 "recording broke"]

    store = open_home_store(home)
    try:
        recorded = {d["name"]: d for d in input_datasets(
            store.artifacts.list_artifacts(found["task"]))}
        assert set(recorded) == {"mnist", "boston_housing"}
        mnist = recorded["mnist"]
        assert (mnist["path"], mnist["files"]) == (str(cached / "mnist-copy.npz"), 1)
        assert mnist["size"] == os.path.getsize(cached / "mnist-copy.npz")
        assert len(mnist["fingerprint"]) == 64

        scalars = scalars_by_key(store, found["task"])  # fails on any duplicate point
        seconds = scalars[("speed", "epoch_seconds")]
        examples = scalars[("speed", "examples_per_second")]
        steps = scalars[("speed", "steps_per_second")]
        assert set(seconds) == {0, 1, 2, 3} and set(examples) == {0, 1} and set(steps) == {2, 3}
        assert all(value is not None and value > 0 for value in seconds.values())
        for epoch, rate in examples.items():  # over the training part: <= the whole epoch
            assert rate is not None and rate >= 90 / seconds[epoch] * 0.999
        for epoch, rate in steps.items():
            assert rate is not None and rate >= 4 / seconds[epoch] * 0.999
        assert ("loss", "train") in scalars and ("loss", "validation") in scalars
    finally:
        store.close()
