"""Option parsing, naming and the summary mapping of the Keras/TensorBoard integrations
(pure Python: no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunehouse.errors import InvalidInput
from tunehouse.integrations.keras import KerasOptions, model_format
from tunehouse.integrations.tensorboard import ScalarDedup, map_summary


def test_options_from_bool_and_dict() -> None:
    assert KerasOptions.from_value(True) == KerasOptions()
    options = KerasOptions.from_value({"batch_frequency": 10, "models": False,
                                       "model_name": "cnn"})
    assert (options.batch_frequency, options.models, options.set_seed, options.model_name) == (
        10, False, True, "cnn")


@pytest.mark.parametrize("value, fragment", [
    ({"batch_frequncy": 3}, "batch_frequncy"),
    ({"batch_frequency": 0}, "positive integer"),
    ({"batch_frequency": "5"}, "positive integer"),
    ({"batch_frequency": True}, "positive integer"),
    ({"model_name": " "}, "model_name"),
    ("yes", "dict or a bool"),
])
def test_bad_options_name_the_problem(value: object, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        KerasOptions.from_value(value)


def test_model_formats(tmp_path: Path) -> None:
    serving = tmp_path / "models" / "cnn" / "3"
    serving.mkdir(parents=True)
    (serving / "saved_model.pb").write_bytes(b"")
    assert model_format(str(serving)) == "saved_model"
    assert model_format(str(tmp_path / "best.weights.h5")) == "weights.h5"
    assert model_format(str(tmp_path / "mnist.keras")) == "keras"


def test_keras_tensorboard_tags_map_onto_fit_hook_names() -> None:
    assert map_summary("epoch_loss", "train") == ("loss", "train")
    assert map_summary("epoch_accuracy", "validation") == ("accuracy", "validation")
    assert map_summary("epoch_learning_rate", "train") == ("learning_rate", "train")
    assert map_summary("batch_loss", "train") == ("loss", "train_batch")
    assert map_summary("my_metric", "custom") == ("my_metric", "custom")
    assert map_summary("epoch_loss", "run1") == ("epoch_loss", "run1")


def test_dedup_only_inside_a_fit() -> None:
    dedup = ScalarDedup()
    assert dedup.first_time("loss", "train", 0)
    assert dedup.first_time("loss", "train", 0)  # outside a fit nothing is remembered
    dedup.fit_started(reports_batches=False)
    assert dedup.first_time("loss", "train", 0)
    assert not dedup.first_time("loss", "train", 0)
    assert dedup.first_time("loss", "validation", 0)
    dedup.fit_ended(reports_batches=False)
    assert dedup.first_time("loss", "train", 0)
