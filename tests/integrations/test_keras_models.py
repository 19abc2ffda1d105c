"""Model saves seen by the Keras/TensorFlow hooks become model versions (real TF)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integrations.conftest import ScriptRun, open_home_store

pytestmark = pytest.mark.tf

MODELS_SCRIPT = """
    import json
    import keras
    import numpy as np
    import tensorflow as tf
    from tunehouse import Task, InputModel

    task = Task.init(project_name="integrations/keras", task_name="models")
    rng = np.random.default_rng(1)
    x = rng.random((64, 5), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype("int64")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    model.save("digits.keras")                       # version 1 of "models" (the task)
    model.fit(x, y, epochs=1, verbose=0)
    model.save("digits.keras")                       # version 2
    expected = model.predict(x, verbose=0)
    model.export("serving/digits/1")                 # SavedModel, registered once
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.double = tf.function(lambda v: v * module.scale,
                                input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, "plain_module")
    checkpoint = keras.callbacks.ModelCheckpoint("ckpt.weights.h5", save_weights_only=True)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint])

    reloaded = keras.models.load_model(InputModel(name="models", version=2).get_local_copy())
    keras_diff = float(np.abs(reloaded.predict(x, verbose=0) - expected).max())
    served = tf.saved_model.load(InputModel(name="models", version=3).get_local_copy())
    export_diff = float(np.abs(served.serve(x).numpy() - expected).max())
    doubled = tf.saved_model.load(InputModel(name="models", version=4).get_local_copy())
    module_value = doubled.double(tf.constant([1.5])).numpy().tolist()
    task.close()
    print("RESULT " + json.dumps({"task": task.id, "keras_diff": keras_diff,
                                  "export_diff": export_diff, "module_value": module_value}))
"""


def test_saves_exports_and_checkpoints_register_versions(
        run_script: Callable[..., ScriptRun], home: Path) -> None:
    result = run_script(MODELS_SCRIPT).result
    assert result["keras_diff"] < 1e-6, "the downloaded .keras model predicts the same"
    assert result["export_diff"] < 1e-5, "the downloaded SavedModel serves the same"
    assert result["module_value"] == [3.0]

    store = open_home_store(home)
    try:
        models = store.models.list_models(task_id=result["task"])
        found = [(m.name, m.version, m.framework, m.format) for m in models]
        assert found == [  # every save a version of the model named after the task
            ("models", 1, "keras", "keras"),
            ("models", 2, "keras", "keras"),
            ("models", 3, "tensorflow", "saved_model"),
            ("models", 4, "tensorflow", "saved_model"),
            ("models", 5, "keras", "weights.h5"),
            ("models", 6, "keras", "weights.h5"),
        ]
        for model in models:
            assert len(model.sha256) == 64 and model.size > 0
            assert model.project_id is not None
        export = models[2]
        assert export.metadata["archive"] == "tar.gz" and export.metadata["filename"] == "1"
        assert models[0].metadata["filename"] == "digits.keras"
        assert models[4].metadata["filename"] == "ckpt.weights.h5"
    finally:
        store.close()
