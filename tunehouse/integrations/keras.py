"""Keras integration: ``Model.fit`` metrics, model saves and seeds, without user code.

:func:`install` patches, reversibly, the methods of ``keras.Model`` (Keras 3; ``tf.keras``
is the same Keras in TensorFlow 2.16+) and ``tf.saved_model.save``:

* ``Model.fit`` gets a :class:`TunehouseCallback` appended to its callbacks (once: not when
  the user already passed one). At each epoch end it reports every numeric log as a scalar:
  ``loss`` -> title ``loss`` series ``train``; ``val_loss`` -> title ``loss`` series
  ``validation``; the optimizer's learning rate -> title ``learning_rate`` series
  ``train``. The iteration is the 0-based epoch index, as the Keras TensorBoard callback
  uses, so both land on the same points. With ``batch_frequency=N`` every N-th training
  batch is reported too, in series ``train_batch``, with the optimizer's global step
  (1-based, continuing across fits) as iteration.
* ``Model.save`` / ``Model.save_weights`` (and so ``keras.callbacks.ModelCheckpoint``),
  ``Model.export`` and ``tf.saved_model.save`` register an output model on the current task
  (through the SDK's :class:`~tunehouse.integrations.provider.TrackingProvider`, which
  uses ``tunehouse.OutputModel``). Nested calls (``export`` calls ``tf.saved_model.save``)
  register once.
* ``keras.datasets.<name>.load_data`` records the loaded dataset as an input dataset of
  the task, and the callback reports the training speed (title ``speed``): see
  :mod:`tunehouse.integrations.keras_data`.
* ``keras.utils.set_random_seed`` is called with the task's recorded seed. It would import
  TensorFlow, when installed, only to seed it (seconds, under the JAX or PyTorch backend):
  while TensorFlow is not imported it is left out, and seeded once the script imports it.

Reports go to the task returned by the task provider at call time; with no current task
the patched methods behave exactly like the originals. Nothing here imports Keras or
TensorFlow at module level, nor the SDK (see :mod:`tunehouse.integrations.provider`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from tunehouse.errors import InvalidInput
from tunehouse.integrations import keras_data
from tunehouse.integrations import provider as tracking
from tunehouse.integrations.provider import TrackedTask
from tunehouse.integrations.tensorboard import DEDUP, tf_api_modules

log = logging.getLogger("tunehouse.integrations.keras")

TaskProvider = Callable[[], Any]
"""Returns the current tunehouse Task, or ``None``."""

TRAIN_SERIES = "train"
VALIDATION_SERIES = "validation"
BATCH_SERIES = "train_batch"
LEARNING_RATE_TITLE = "learning_rate"
VALIDATION_PREFIX = "val_"


@dataclass(frozen=True)
class KerasOptions:
    """What the Keras integration does; set through
    ``Task.init(auto_connect_frameworks={"keras": {...}})``.

    Attributes:
        batch_frequency: Report every N-th training batch too (``None``: epochs only).
        models: Register saved/exported models as output models of the task.
        set_seed: Call ``keras.utils.set_random_seed`` with the task's seed.
        model_name: Name for every model the hook registers (default: named after the
            task, as ``OutputModel`` names it: the task's name, or for a search trial
            its search's base task's name).
    """

    batch_frequency: int | None = None
    models: bool = True
    set_seed: bool = True
    model_name: str | None = None

    @classmethod
    def from_value(cls, value: Any) -> KerasOptions:
        """Options from ``True``/``None`` (defaults) or a dict of the fields above."""
        if value is None or value is True:
            return cls()
        if isinstance(value, KerasOptions):
            return value
        if not isinstance(value, dict):
            raise InvalidInput(f"keras integration options must be a dict or a bool, got {value!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidInput(
                f"unknown keras integration option(s) {unknown}; known: {sorted(known)}"
            )
        freq = value.get("batch_frequency")
        if freq is not None and (isinstance(freq, bool) or not isinstance(freq, int) or freq < 1):
            raise InvalidInput(f"keras batch_frequency must be a positive integer, got {freq!r}")
        name = value.get("model_name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInput(f"keras model_name must be a non-empty string, got {name!r}")
        return cls(
            batch_frequency=freq,
            models=bool(value.get("models", True)),
            set_seed=bool(value.get("set_seed", True)),
            model_name=name,
        )


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.options: KerasOptions | None = None
        self.task_provider: TaskProvider | None = None
        self.originals: list[tuple[Any, str, Any, bool]] = []
        self.callback_classes: tuple[type, type] | None = None
        self.saving = threading.local()
        #: The seed ``set_seed`` gave Keras while TensorFlow was not imported (so not to it).
        self.tf_seed_pending: int | None = None


_state = _State()


def is_installed() -> bool:
    """Whether ``keras.Model.fit`` is currently patched by tunehouse."""
    return bool(_state.originals)


def current_options() -> KerasOptions | None:
    return _state.options


def install(options: KerasOptions | dict | bool | None = None,
            task_provider: TaskProvider | None = None, seed: int | None = None) -> bool:
    """Patch Keras, and ``tf.saved_model.save`` once TensorFlow is fully imported.

    Safe to call again (for example after TensorFlow finished importing): parts already
    patched are left alone, options and provider are replaced.

    Args:
        options: :class:`KerasOptions` or the dict form.
        task_provider: Returns the task to report to (default: the task started by
            ``Task.init``, see :func:`tunehouse.integrations.provider.current_task`).
        seed: The task's recorded seed, given to ``keras.utils.set_random_seed`` unless
            ``options.set_seed`` is false.

    Returns:
        True when Keras is patched (now or already), False when Keras is not imported.
    """
    opts = KerasOptions.from_value(options)
    keras = sys.modules.get("keras")
    model_cls = getattr(keras, "Model", None) if keras is not None else None
    tf = sys.modules.get("tensorflow")
    saved_model_modules = (tf_api_modules(tf, "saved_model", "save")
                           if tf is not None and hasattr(tf, "saved_model") else [])
    with _state.lock:
        _state.options = opts
        _state.task_provider = task_provider or _default_task_provider
        patched = {owner for owner, _, _, _ in _state.originals}
        newly_patched_keras = False
        if model_cls is not None and model_cls not in patched:
            _patch(model_cls, "fit", _wrap_fit)
            _patch(model_cls, "save", functools.partial(_wrap_save, "keras"))
            _patch(model_cls, "save_weights", functools.partial(_wrap_save, "keras"))
            _patch(model_cls, "export", _wrap_export)
            keras_data.patch_datasets(_patch, _current_task)  # keras.datasets loaders
            newly_patched_keras = True
        for saved_model in saved_model_modules:
            if saved_model not in patched:
                _patch(saved_model, "save", _wrap_tf_saved_model_save)
    if newly_patched_keras and opts.set_seed and seed is not None:
        set_seed(seed)
    pending = _state.tf_seed_pending
    if pending is not None and tf is not None and hasattr(tf, "random"):
        _state.tf_seed_pending = None
        tf.random.set_seed(pending)  # what set_random_seed left out, now it is imported
    return model_cls is not None


def uninstall() -> None:
    """Restore every patched method (a no-op when not installed)."""
    with _state.lock:
        for owner, name, original, owned in reversed(_state.originals):
            if owned:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        _state.originals.clear()
        _state.options = None
        _state.task_provider = None
        _state.tf_seed_pending = None


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend through ``keras.utils.set_random_seed``, and
    TensorFlow only when it is imported already."""
    keras = sys.modules.get("keras")
    if keras is None:
        return
    hide = "tensorflow" not in sys.modules
    with _tensorflow_hidden_from_keras(hide) as hidden:
        keras.utils.set_random_seed(int(seed))
    _state.tf_seed_pending = int(seed) if hidden else None


@contextlib.contextmanager
def _tensorflow_hidden_from_keras(hide: bool) -> Iterator[bool]:
    """Keras 3's ``set_random_seed`` asks its lazy handle on TensorFlow whether it is
    available, which imports it; with ``hide``, the handle reads as unavailable meanwhile
    (nothing changes where Keras has no such handle, as in Keras 2). Yields whether it
    was hidden."""
    rng_utils = sys.modules.get("keras.src.utils.rng_utils")
    lazy = getattr(rng_utils, "__dict__", {}).get("tf")
    state = getattr(lazy, "__dict__", {})
    if not hide or "_available" not in state or state.get("module") is not None:
        yield False
        return
    saved = state["_available"]
    lazy._available = False  # type: ignore[union-attr]
    try:
        yield True
    finally:
        lazy._available = saved  # type: ignore[union-attr]


def _default_task_provider() -> Any:
    return tracking.current_task()


def _patch(owner: Any, name: str, make_wrapper: Callable[[Any], Any]) -> None:
    owned = name in vars(owner)
    original = getattr(owner, name)
    wrapper = make_wrapper(original)
    functools.update_wrapper(wrapper, original)
    setattr(owner, name, wrapper)
    _state.originals.append((owner, name, original, owned))


def _current_task() -> Any:
    provider = _state.task_provider
    if provider is None or _state.options is None:
        return None
    try:
        return provider()
    except Exception:
        log.debug("tunehouse task provider failed", exc_info=True)
        return None


# ---------------------------------------------------------------- fit
def _wrap_fit(original: Any) -> Any:
    signature = inspect.signature(original)

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        task = _current_task()
        options = _state.options
        if task is None or options is None:
            return original(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.arguments["callbacks"] = with_tunehouse_callback(
            bound.arguments.get("callbacks"), task, options, self
        )
        with keras_data.fit_size(bound.arguments):  # for the callback's speed reports
            return original(*bound.args, **bound.kwargs)

    return fit


def callback_classes() -> tuple[type, type]:
    """The (epoch, batch) callback classes, built once Keras is imported."""
    if _state.callback_classes is None:
        _state.callback_classes = _build_callback_classes()
    return _state.callback_classes


def with_tunehouse_callback(callbacks: Any, task: Any, options: KerasOptions, model: Any) -> Any:
    """``callbacks`` with one tunehouse callback added, unless one is already there."""
    epoch_cls, batch_cls = callback_classes()
    keras = sys.modules["keras"]
    if isinstance(callbacks, keras.callbacks.CallbackList):
        if any(isinstance(cb, epoch_cls) for cb in callbacks.callbacks):
            return callbacks
        added = _new_callback(task, options, epoch_cls, batch_cls)
        added.set_model(model)
        if callbacks.params:
            added.set_params(callbacks.params)
        callbacks.callbacks.append(added)
        return callbacks
    if callbacks is None:
        listed: list[Any] = []
    elif isinstance(callbacks, (list, tuple)):
        listed = list(callbacks)
    else:
        listed = [callbacks]
    if any(isinstance(cb, epoch_cls) for cb in listed):
        return listed
    listed.append(_new_callback(task, options, epoch_cls, batch_cls))
    return listed


def keras_callback(task: Any = None, batch_frequency: int | None = None) -> Any:
    """A tunehouse callback to pass to ``fit`` yourself, e.g. to report to another task.

    The automatic hook adds no second one to a fit that already has it. Keras must be
    imported.

    Args:
        task: Task to report to (default: the task the integration reports to).
        batch_frequency: Also report every N-th training batch.
    """
    if "keras" not in sys.modules:
        raise InvalidInput("import keras (or tensorflow) before creating a tunehouse callback")
    epoch_cls, batch_cls = callback_classes()
    if batch_frequency:
        return batch_cls(task=task, batch_frequency=batch_frequency)
    return epoch_cls(task=task)


def _new_callback(task: Any, options: KerasOptions, epoch_cls: type, batch_cls: type) -> Any:
    if options.batch_frequency:
        return batch_cls(task=task, batch_frequency=options.batch_frequency)
    return epoch_cls(task=task)


def _build_callback_classes() -> tuple[type, type]:
    keras = sys.modules["keras"]

    class TunehouseCallback(keras.callbacks.Callback):  # type: ignore[name-defined,misc]
        """Reports epoch logs (and the learning rate) of a fit to a tunehouse task.

        Args:
            task: The task to report to (default: the current task).
        """

        reports_batches = False

        def __init__(self, task: Any = None) -> None:
            super().__init__()
            self._task = task
            self._logger: Any = None
            self._speed = keras_data.EpochSpeed()

        def on_train_begin(self, logs: Any = None) -> None:
            task = self._task or _current_task()
            self._logger = task.get_logger() if task is not None else None
            self._speed.train_begin()
            DEDUP.fit_started(self.reports_batches)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._speed.epoch_begin()

        def on_test_begin(self, logs: Any = None) -> None:
            self._speed.training_done()  # validation starts: the epoch's training ends

        def on_train_end(self, logs: Any = None) -> None:
            DEDUP.fit_ended(self.reports_batches)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self._speed.epoch_end(epoch, self.params, None if self._logger is None
                                  else functools.partial(DEDUP.report, self._logger))
            if self._logger is None:
                return
            logs = dict(logs or {})
            if LEARNING_RATE_TITLE not in logs:
                rate = _learning_rate(self.model)
                if rate is not None:
                    logs[LEARNING_RATE_TITLE] = rate
            for name, value in logs.items():
                number = _as_float(value)
                if number is None:
                    continue
                if name.startswith(VALIDATION_PREFIX):
                    title, series = name[len(VALIDATION_PREFIX):], VALIDATION_SERIES
                else:
                    title, series = name, TRAIN_SERIES
                DEDUP.report(self._logger, title, series, number, int(epoch))

    class TunehouseBatchCallback(TunehouseCallback):
        """Also reports every ``batch_frequency``-th training batch (series
        ``train_batch``, iteration = the optimizer's global step)."""

        reports_batches = True

        def __init__(self, task: Any = None, batch_frequency: int = 1) -> None:
            super().__init__(task=task)
            self.batch_frequency = max(1, int(batch_frequency))
            self._step = 0
            self._epoch_start_step = 0

        def on_train_begin(self, logs: Any = None) -> None:
            super().on_train_begin(logs)
            self._step = _optimizer_iterations(self.model)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            super().on_epoch_begin(epoch, logs)
            self._epoch_start_step = self._step

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self._step = self._epoch_start_step + int(batch) + 1
            if self._logger is None or self._step % self.batch_frequency:
                return
            for name, value in (logs or {}).items():
                number = _as_float(value)
                if number is not None:
                    DEDUP.report(self._logger, name, BATCH_SERIES, number, self._step)

    return TunehouseCallback, TunehouseBatchCallback


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def _learning_rate(model: Any) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(sys.modules["keras"].ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:
        return None


def _optimizer_iterations(model: Any) -> int:
    optimizer: Any = getattr(model, "optimizer", None)
    try:
        return int(sys.modules["keras"].ops.convert_to_numpy(optimizer.iterations))
    except Exception:
        return 0


# ---------------------------------------------------------------- model saves
class _SaveGuard:
    """Counts nested hooked saves on this thread so only the outermost one registers."""

    def __enter__(self) -> bool:
        depth = getattr(_state.saving, "depth", 0)
        _state.saving.depth = depth + 1
        return depth == 0

    def __exit__(self, *exc: Any) -> None:
        _state.saving.depth -= 1


def _wrap_save(framework: str, original: Any) -> Any:
    def save(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
        with _SaveGuard() as outermost:
            result = original(self, filepath, *args, **kwargs)
        if outermost:
            register_saved_model(filepath, framework)
        return result

    return save


def _wrap_export(original: Any) -> Any:
    def export(self: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
        with _SaveGuard() as outermost:
            result = original(self, filepath, *args, **kwargs)
        if outermost:
            fmt = kwargs.get("format", args[0] if args else "tf_saved_model")
            framework = "tensorflow" if fmt == "tf_saved_model" else "keras"
            register_saved_model(filepath, framework, "saved_model" if framework == "tensorflow" else str(fmt))
        return result

    return export


def _wrap_tf_saved_model_save(original: Any) -> Any:
    def save(obj: Any, export_dir: Any, *args: Any, **kwargs: Any) -> Any:
        with _SaveGuard() as outermost:
            result = original(obj, export_dir, *args, **kwargs)
        if outermost:
            register_saved_model(export_dir, "tensorflow", "saved_model")
        return result

    return save


def model_format(path: str) -> str:
    """The format name recorded for a saved model path."""
    if os.path.isdir(path):
        return "saved_model" if os.path.exists(os.path.join(path, "saved_model.pb")) else "folder"
    name = os.path.basename(path).lower()
    for suffix in (".weights.h5", ".keras", ".h5", ".onnx", ".tflite"):
        if name.endswith(suffix):
            return suffix[1:]
    return "file"


def register_saved_model(path: Any, framework: str, fmt: str | None = None) -> Any:
    """Register ``path`` as an output model of the current task (if any); never raises.

    Returns:
        The stored :class:`~tunehouse.store.records.Model`, or None.
    """
    options = _state.options
    if options is None or not options.models:
        return None
    task = _current_task()
    if task is None:
        return None
    try:
        path = os.fspath(path)
        if not os.path.exists(path):
            return None
        sdk = tracking.get_provider()
        if sdk is None:
            raise InvalidInput("no tracking provider is registered: call Task.init() first")
        return sdk.register_output_model(
            task, path, name=options.model_name,
            framework=framework, format=fmt or model_format(path))
    except Exception as exc:
        log.warning("tunehouse could not register model %s: %s", path, exc)
        return None


def attach(task: TrackedTask, options: KerasOptions) -> Callable[[], None]:
    """Entry of :data:`tunehouse.integrations.frameworks.INTEGRATIONS`, called once
    ``keras`` and again once ``tensorflow`` is imported: patch what is there for ``task``."""
    def provider() -> Any:
        return task if task.running else None

    install(options, task_provider=provider, seed=task.seed)
    return uninstall
