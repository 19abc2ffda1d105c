"""Keras integration, the data side: the datasets a script loads and how fast it trains.

Installed and undone with the rest of :mod:`tunehouse.integrations.keras` (whose
``install`` calls :func:`patch_datasets` and whose callback uses :class:`EpochSpeed`):

* **Datasets.** ``keras.datasets.<name>.load_data`` (``mnist``, ``fashion_mnist``,
  ``cifar10``, ``cifar100``, ``imdb``, ``reuters``, ``boston_housing``,
  ``california_housing``, those that exist; through ``keras.datasets`` and, when loaded,
  ``tf.keras.datasets``) is wrapped: after a successful call the current task records an
  input dataset named after the module (``task.add_input_dataset(path, name="mnist")``).
  The path is what Keras' ``get_file`` returned during the call (the file in Keras'
  cache, ``$KERAS_HOME`` or ``~/.keras``, under ``datasets/``, honouring a ``path=``
  argument; the common folder when a loader fetches several files, as ``fashion_mnist``
  does); for that, ``get_file`` of each loader's own module is wrapped too. When no
  ``get_file`` call was seen, the loader's ``path`` argument in Keras' cache is used if that
  file exists. A failure to record is logged as a warning and never breaks the call.
* **Speed.** At each epoch end the fit callback reports, with the epoch as iteration,
  title ``speed``: ``epoch_seconds`` (from epoch begin to epoch end, validation included)
  and ``examples_per_second`` (training examples of the epoch over the training part of
  the epoch, up to the validation's start). The examples are the training set's size when
  ``fit`` got arrays (less ``validation_split``) and no ``steps_per_epoch``, else steps x
  batch size (``fit``'s ``batch_size``, 32 for arrays as in Keras, or the ``batch_size`` /
  ``samples`` of ``callback.params`` where Keras gives them). Without a batch size (a
  ``tf.data.Dataset`` or a generator) ``steps_per_second`` is reported instead.

Nothing here imports Keras, TensorFlow or the SDK at module level.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tunehouse.common.series import SPEED_TITLE

log = logging.getLogger("tunehouse.integrations.keras")

#: The ``keras.datasets`` modules whose ``load_data`` is wrapped (those that exist).
DATASET_MODULES: tuple[str, ...] = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb",
                                    "reuters", "boston_housing", "california_housing")
#: The packages they are reached through: Keras 3, and ``tf.keras`` (TensorFlow 2.16+).
DATASET_PACKAGES: tuple[str, ...] = ("keras.datasets", "keras._tf_keras.keras.datasets")

EPOCH_SECONDS = "epoch_seconds"
EXAMPLES_PER_SECOND = "examples_per_second"
STEPS_PER_SECOND = "steps_per_second"
KERAS_DEFAULT_BATCH_SIZE = 32

Patcher = Callable[[Any, str, Callable[[Any], Any]], None]
"""``patch(owner, name, make_wrapper)``: replaces ``owner.name`` reversibly (keras.py's)."""
Reporter = Callable[[str, str, float, int], Any]
"""``report(title, series, value, iteration)``."""

#: Packages imported only when Keras has loaded this module itself (no new import cost).
_LOADED_FIRST = {"keras._tf_keras.keras.datasets": "keras._tf_keras"}

_local = threading.local()


# ---------------------------------------------------------------- datasets
def patch_datasets(patch: Patcher, current_task: Callable[[], Any]) -> int:
    """Wrap the ``load_data`` of every dataset module found (and the ``get_file`` of their
    implementation modules) through ``patch``, so that they are undone with the other
    Keras patches.

    Args:
        patch: keras.py's reversible patcher.
        current_task: Returns the task to record to, or ``None``.

    Returns:
        The number of ``load_data`` functions wrapped.
    """
    wrapped_get_file: list[Any] = []
    count = 0
    for name, module in dataset_modules():
        original = module.load_data
        implementation = sys.modules.get(getattr(original, "__module__", "") or "")
        if (implementation is not None and callable(getattr(implementation, "get_file", None))
                and all(implementation is not done for done in wrapped_get_file)):
            patch(implementation, "get_file", _wrap_get_file)
            wrapped_get_file.append(implementation)
        patch(module, "load_data", functools.partial(_wrap_load_data, name, current_task))
        count += 1
    return count


def dataset_modules() -> list[tuple[str, Any]]:
    """``(name, module)`` of each distinct dataset module with a ``load_data``; the
    ``tf.keras`` ones only when Keras has loaded its ``tf.keras`` package already."""
    found: list[tuple[str, Any]] = []
    for package in DATASET_PACKAGES:
        needs = _LOADED_FIRST.get(package)
        if needs is not None and needs not in sys.modules:
            continue
        for name in DATASET_MODULES:
            try:
                module = importlib.import_module(f"{package}.{name}")
            except ImportError:
                continue
            if callable(getattr(module, "load_data", None)) and all(
                    module is not seen for _, seen in found):
                found.append((name, module))
    return found


def _wrap_get_file(original: Any) -> Any:
    def get_file(*args: Any, **kwargs: Any) -> Any:
        path = original(*args, **kwargs)
        captures = getattr(_local, "captures", None)
        if captures:
            with contextlib.suppress(TypeError):
                captures[-1].append(os.fspath(path))
        return path

    return get_file


@contextlib.contextmanager
def _captured_downloads() -> Iterator[list[str]]:
    """The paths ``get_file`` returns on this thread inside the block."""
    captures: list[list[str]] = getattr(_local, "captures", None) or []
    _local.captures = captures
    paths: list[str] = []
    captures.append(paths)
    try:
        yield paths
    finally:
        captures.pop()


def _wrap_load_data(name: str, current_task: Callable[[], Any], original: Any) -> Any:
    def load_data(*args: Any, **kwargs: Any) -> Any:
        with _captured_downloads() as paths:
            result = original(*args, **kwargs)
        try:
            record_dataset(current_task(), name, cached_path(original, args, kwargs, paths))
        except Exception as exc:  # recording must never break the user's call
            log.warning("tunehouse could not record keras dataset %s: %s", name, exc)
        return result

    return load_data


def record_dataset(task: Any, name: str, path: str | None) -> Any:
    """``task.add_input_dataset(path, name=name)``; nothing without a task.

    Raises:
        Whatever recording raises; a missing path or a task without
        ``add_input_dataset`` raises ``RuntimeError``.
    """
    if task is None:
        return None
    if path is None:
        raise RuntimeError("the file Keras cached was not found")
    add = getattr(task, "add_input_dataset", None)
    if add is None:
        raise RuntimeError(f"task {getattr(task, 'id', task)!r} cannot record datasets")
    return add(path, name=name)


def cached_path(load_data: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                downloads: list[str]) -> str | None:
    """Where ``load_data(*args, **kwargs)`` found its data: the one path ``get_file``
    returned, the folder common to several, else the ``path`` argument in Keras' cache
    when that exists."""
    unique = list(dict.fromkeys(downloads))
    if len(unique) == 1:
        return unique[0]
    if unique:
        with contextlib.suppress(ValueError):
            return os.path.commonpath(unique)
        return None
    try:
        bound = inspect.signature(load_data).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    given = bound.arguments.get("path")
    if not isinstance(given, (str, os.PathLike)):
        return None
    candidate = os.path.join(keras_cache_dir(), "datasets", os.fspath(given))
    return candidate if os.path.exists(candidate) else None


def keras_cache_dir() -> str:
    """Keras' cache folder as ``get_file`` picks it: ``$KERAS_HOME`` or ``~/.keras``
    (Keras' own setting when loaded), ``/tmp/.keras`` when that is not writable."""
    config = sys.modules.get("keras.src.backend.config")
    home = getattr(config, "keras_home", None)
    if callable(home):
        base = os.fspath(home())
    else:
        base = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    base = os.path.expanduser(base)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


# ---------------------------------------------------------------- speed
@dataclass(frozen=True)
class FitSize:
    """What ``fit``'s arguments tell about one epoch's data."""

    samples: int | None
    batch_size: int | None
    steps_per_epoch: int | None


@contextlib.contextmanager
def fit_size(arguments: Mapping[str, Any]) -> Iterator[FitSize]:
    """Make the size read from ``fit``'s bound ``arguments`` the one
    :func:`current_fit_size` returns on this thread inside the block."""
    size = size_from_fit_arguments(arguments)
    saved = getattr(_local, "fit_size", None)
    _local.fit_size = size
    try:
        yield size
    finally:
        _local.fit_size = saved


def current_fit_size() -> FitSize | None:
    """The size of the ``fit`` running on this thread, when the hook saw its arguments."""
    return getattr(_local, "fit_size", None)


def size_from_fit_arguments(arguments: Mapping[str, Any]) -> FitSize:
    """Training examples and batch size of a ``fit(x, ..., batch_size, validation_split,
    steps_per_epoch)`` call: known for arrays (NumPy, tensors, DataFrames, or lists and
    dicts of them), unknown for datasets and generators."""
    x = arguments.get("x")
    samples = _first_dimension(x)
    batch_size = arguments.get("batch_size")
    steps = arguments.get("steps_per_epoch")
    if samples is not None:
        split = arguments.get("validation_split") or 0.0
        with contextlib.suppress(TypeError, ValueError):
            if 0.0 < float(split) < 1.0:
                samples = int(samples * (1.0 - float(split)))  # Keras' floor split
        if batch_size is None:
            batch_size = KERAS_DEFAULT_BATCH_SIZE
    return FitSize(samples=samples, batch_size=_positive_int(batch_size),
                   steps_per_epoch=_positive_int(steps))


def _first_dimension(x: Any) -> int | None:
    if isinstance(x, (list, tuple)):
        sizes = [_first_dimension(item) for item in x]
        return next((size for size in sizes if size is not None), None) if x else None
    if isinstance(x, dict):
        return _first_dimension(list(x.values()))
    shape = getattr(x, "shape", None)
    if shape is None or isinstance(x, (str, bytes)):
        return None
    try:
        return int(shape[0]) if len(shape) > 0 and shape[0] is not None else None
    except (TypeError, ValueError, IndexError):
        return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class EpochSpeed:
    """Times the epochs of one fit and reports its speed (see the module docstring)."""

    def __init__(self) -> None:
        self._size: FitSize | None = None
        self._epoch_start: float | None = None
        self._train_end: float | None = None

    def train_begin(self) -> None:
        """At ``on_train_begin``: read the size of the fit that is starting."""
        self._size = current_fit_size()
        self._epoch_start = self._train_end = None

    def epoch_begin(self) -> None:
        """At ``on_epoch_begin``."""
        self._epoch_start = time.perf_counter()
        self._train_end = None

    def training_done(self) -> None:
        """At ``on_test_begin``: the epoch's training part ends where validation starts."""
        if self._epoch_start is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def epoch_end(self, epoch: int, params: Mapping[str, Any] | None,
                  report: Reporter | None) -> None:
        """At ``on_epoch_end``: report through ``report`` (``None``: only reset)."""
        start, train_end = self._epoch_start, self._train_end
        self._epoch_start = self._train_end = None
        if start is None or report is None:
            return
        now = time.perf_counter()
        seconds = now - start
        report(SPEED_TITLE, EPOCH_SECONDS, seconds, int(epoch))
        training = (train_end or now) - start
        if training <= 0:
            return
        examples, steps = self.epoch_work(params or {})
        if examples is not None:
            report(SPEED_TITLE, EXAMPLES_PER_SECOND, examples / training, int(epoch))
        elif steps is not None:
            report(SPEED_TITLE, STEPS_PER_SECOND, steps / training, int(epoch))

    def epoch_work(self, params: Mapping[str, Any]) -> tuple[int | None, int | None]:
        """``(training examples, steps)`` of one epoch, each ``None`` when unknown."""
        size = self._size or FitSize(None, None, None)
        steps = _positive_int(params.get("steps")) or size.steps_per_epoch
        samples = _positive_int(params.get("samples")) or size.samples
        batch_size = _positive_int(params.get("batch_size")) or size.batch_size
        if samples is not None and size.steps_per_epoch is None:
            return samples, steps
        if steps is not None and batch_size is not None:
            return steps * batch_size, steps
        return None, steps
