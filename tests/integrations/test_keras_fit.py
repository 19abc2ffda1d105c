"""Keras ``fit`` metrics and TensorBoard capture with real TensorFlow.

One subprocess runs every scenario (TensorFlow takes seconds to import); the test then
reads what the real embedded store holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integrations.conftest import ScriptRun, open_home_store, scalars_by_key

pytestmark = pytest.mark.tf

FIT_SCRIPT = """
    import json, random
    from tunehouse import Task

    # Task.init before TensorFlow is imported: the integration attaches on import.
    task = Task.init(project_name="integrations/keras", task_name="fit",
                     auto_connect_frameworks={"keras": {"batch_frequency": 3}})
    import numpy as np
    first_random = float(np.random.rand())
    import keras
    import tensorflow as tf
    from tunehouse.integrations import keras as keras_hook
    from tunehouse.integrations import tensorboard as tb_hook

    seeded = float(np.random.rand())
    expected = float(np.random.RandomState(1337).rand())
    rng = np.random.default_rng(0)
    x = rng.random((120, 6), dtype=np.float32)
    y = (x.sum(axis=1) > 3).astype("int64")
    x_val, y_val = x[:40], y[:40]

    def build():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = build()
        history = model.fit(x, y, epochs=2, batch_size=20, validation_data=(x_val, y_val),
                            verbose=0)
    # 6 batches per epoch: batches 3, 6, 9, 12 are reported. A user-supplied callback
    # stops the hook from adding a second one.
    user_callbacks = [keras_hook.keras_callback()]
    model.fit(x, y, epochs=3, initial_epoch=2, batch_size=20,
              validation_data=(x_val, y_val), verbose=0, callbacks=user_callbacks)
    first = {"task": task.id, "history": history.history,
             "user_callbacks_untouched": len(user_callbacks) == 1,
             "strategy_replicas": strategy.num_replicas_in_sync,
             "seeded": seeded == expected, "first_random": first_random}
    task.close()

    task = Task.init(project_name="integrations/keras", task_name="tensorboard")
    model = build()
    board = keras.callbacks.TensorBoard(log_dir="tb_logs")
    history = model.fit(x, y, epochs=2, batch_size=20, validation_data=(x_val, y_val),
                        verbose=0, callbacks=[board])
    writer = tf.summary.create_file_writer("tb_logs/custom")
    with writer.as_default():
        for step in range(3):
            tf.summary.scalar("custom_metric", step * 0.5, step=step)
    no_writer_written = bool(tf.summary.scalar("unwritten", 1.0, step=0))
    second = {"task": task.id, "history": history.history,
              "no_writer_written": no_writer_written}
    task.close()
    restored = {
        "fit": "fit" not in vars(keras.Model) and not keras_hook.is_installed(),
        "summary": not tb_hook.is_installed()
                   and not hasattr(tf.summary.scalar, "__wrapped__"),
        "saved_model": not hasattr(tf.saved_model.save, "__wrapped__"),
    }
    print("RESULT " + json.dumps({"first": first, "second": second, "restored": restored}))
"""


def test_fit_reports_epochs_batches_and_tensorboard_once(
        run_script: Callable[..., ScriptRun], home: Path) -> None:
    result = run_script(FIT_SCRIPT).result
    first, second = result["first"], result["second"]
    assert first["strategy_replicas"] == 1
    assert first["user_callbacks_untouched"]
    assert first["seeded"], "keras.utils.set_random_seed(1337) ran when Keras was imported"
    assert result["restored"] == {"fit": True, "summary": True, "saved_model": True}

    store = open_home_store(home)
    try:
        scalars = scalars_by_key(store, first["task"])
        history = first["history"]
        assert set(scalars[("loss", "train")]) == {0, 1, 2}
        assert set(scalars[("accuracy", "validation")]) == {0, 1, 2}
        for epoch in (0, 1):
            assert scalars[("loss", "train")][epoch] == pytest.approx(history["loss"][epoch])
            assert scalars[("loss", "validation")][epoch] == pytest.approx(
                history["val_loss"][epoch])
            assert scalars[("accuracy", "train")][epoch] == pytest.approx(
                history["accuracy"][epoch])
        assert scalars[("learning_rate", "train")] == {
            0: pytest.approx(0.01), 1: pytest.approx(0.01), 2: pytest.approx(0.01)}
        assert set(scalars[("loss", "train_batch")]) == {3, 6, 9, 12}  # epochs 0-1, batch mode
        assert ("val_loss", "train") not in scalars

        scalars = scalars_by_key(store, second["task"])  # fails on any duplicate point
        history = second["history"]
        assert scalars[("loss", "train")] == {
            0: pytest.approx(history["loss"][0]), 1: pytest.approx(history["loss"][1])}
        assert scalars[("loss", "validation")] == {
            0: pytest.approx(history["val_loss"][0]), 1: pytest.approx(history["val_loss"][1])}
        assert set(scalars[("learning_rate", "train")]) == {0, 1}
        assert scalars[("custom_metric", "custom")] == {0: 0.0, 1: 0.5, 2: 1.0}
        assert not second["no_writer_written"]
        assert not any(title == "unwritten" for title, _ in scalars)
        assert not any(title.startswith("epoch_") for title, _ in scalars)
        summaries = {(m.title, m.series): m.count for m in store.events.get_metric_summaries(
            second["task"])}
        assert summaries[("loss", "train")] == 2 and summaries[("accuracy", "validation")] == 2
    finally:
        store.close()
