"""TensorBoard capture: scalars written with ``tf.summary.scalar`` are reported too.

:func:`install` wraps ``tf.summary.scalar`` (and ``tf.summary.create_file_writer``, to learn
each writer's log directory) reversibly; :func:`uninstall` puts the originals back. Nothing
here imports TensorFlow at module level: the functions use the ``tensorflow`` module already
in ``sys.modules``.

How a summary maps onto a tunehouse scalar:

* series: the last part of the default writer's log directory (``logs/train`` ->
  ``train``; Keras' ``validation`` writer -> ``validation``), or ``tensorboard`` for a writer
  created before tunehouse was attached;
* title: the tag, except that the Keras TensorBoard callback's ``epoch_<metric>`` tags
  become ``<metric>`` and its ``batch_<metric>`` tags become ``<metric>`` in series
  ``train_batch``, so that they land on the very same (title, series, iteration) as the
  Keras fit hook's reports;
* iteration: the summary's ``step`` (or ``tf.summary.experimental.get_step()``).

Only eager calls whose write happened (a default writer is set and recording is on) are
reported; summaries inside a ``tf.function`` graph are left to TensorBoard.

While a tracked ``Model.fit`` runs, both paths report through :data:`DEDUP`, which drops a
second report of the same (title, series, iteration), so metrics are never stored twice
when the Keras TensorBoard callback is used alongside the automatic hook.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from tunehouse.integrations.provider import TrackedTask

log = logging.getLogger("tunehouse.integrations.tensorboard")

LoggerProvider = Callable[[], Any]
"""Returns the current task's Logger (with ``report_scalar``), or ``None``."""

DEFAULT_SERIES = "tensorboard"
KERAS_EPOCH_PREFIX = "epoch_"
KERAS_BATCH_PREFIX = "batch_"


class ScalarDedup:
    """Drops repeated (title, series, iteration) reports while a tracked fit runs.

    Outside a fit every report passes straight through (and nothing is remembered, so
    memory stays bounded); inside one, the keys seen are kept until the fit ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active_fits = 0
        self._batch_reporting_fits = 0
        self._seen: set[tuple[str, str, int]] = set()

    def fit_started(self, reports_batches: bool) -> None:
        with self._lock:
            self._active_fits += 1
            self._batch_reporting_fits += int(reports_batches)

    def fit_ended(self, reports_batches: bool) -> None:
        with self._lock:
            self._active_fits = max(0, self._active_fits - 1)
            self._batch_reporting_fits = max(0, self._batch_reporting_fits - int(reports_batches))
            if self._active_fits == 0:
                self._seen.clear()

    @property
    def fit_reports_batches(self) -> bool:
        return self._batch_reporting_fits > 0

    def first_time(self, title: str, series: str, iteration: int) -> bool:
        """True when this key should be reported (always true outside a fit)."""
        if self._active_fits == 0:
            return True
        key = (title, series, iteration)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def report(self, logger: Any, title: str, series: str, value: float, iteration: int) -> bool:
        """Report through ``logger`` unless the key was already reported in this fit."""
        if not self.first_time(title, series, iteration):
            return False
        logger.report_scalar(title, series, value, iteration)
        return True


DEDUP = ScalarDedup()


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logger_provider: LoggerProvider | None = None
        self.patched: list[tuple[Any, str, Any]] = []
        self.writer_dirs: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


_state = _State()


def is_installed() -> bool:
    """Whether ``tf.summary.scalar`` is currently wrapped by tunehouse."""
    return bool(_state.patched)


def tf_api_modules(tf: Any, name: str, attribute: str) -> list[Any]:
    """The distinct module objects through which ``tf.<name>`` is reached.

    TensorFlow loads ``tf.summary`` and ``import tensorflow.summary`` (what Keras'
    TensorBoard callback uses) as two module objects from one file, and importing the
    latter rebinds ``tf.summary``; the same holds for ``tf.saved_model``. Patching both keeps
    a patch in place whichever way the user's code reaches the function.
    """
    found: list[Any] = []
    candidates = [getattr(tf, name, None)]
    with contextlib.suppress(ImportError):
        candidates.append(importlib.import_module(f"tensorflow.{name}"))
    for module in candidates:
        if module is not None and hasattr(module, attribute) and all(module is not m for m in found):
            found.append(module)
    return found


def install(logger_provider: LoggerProvider) -> bool:
    """Wrap ``tf.summary.scalar`` so its scalars also go to ``logger_provider()``.

    Args:
        logger_provider: Called at each summary; returns the Logger to report to, or
            ``None`` to report nothing (for example when no task is running).

    Returns:
        True when the patch is in place (now or already), False when TensorFlow is not
        imported or has no ``tf.summary``.
    """
    tf = sys.modules.get("tensorflow")
    modules = tf_api_modules(tf, "summary", "scalar") if tf is not None else []
    if not modules:
        return False
    with _state.lock:
        _state.logger_provider = logger_provider
        if _state.patched:
            return True
        for module in modules:
            _patch(module, "scalar", _make_scalar_wrapper)
            if hasattr(module, "create_file_writer"):
                _patch(module, "create_file_writer", _make_writer_wrapper)
    return True


def _patch(module: Any, name: str, make_wrapper: Callable[[Any], Any]) -> None:
    original = getattr(module, name)
    setattr(module, name, make_wrapper(original))
    _state.patched.append((module, name, original))


def uninstall() -> None:
    """Put the original ``tf.summary`` functions back (a no-op when not installed)."""
    with _state.lock:
        for module, name, original in reversed(_state.patched):
            setattr(module, name, original)
        _state.patched.clear()
        _state.logger_provider = None


def map_summary(tag: str, series: str) -> tuple[str, str] | None:
    """The (title, series) a summary is reported under, or None to drop it.

    Keras TensorBoard callback tags are mapped onto the fit hook's names; while a tracked
    fit reports batches itself, the callback's ``batch_*`` tags are dropped (their steps
    restart at each fit, the hook's global step does not).
    """
    if tag.startswith(KERAS_EPOCH_PREFIX) and series in ("train", "validation"):
        return tag[len(KERAS_EPOCH_PREFIX):], series
    if tag.startswith(KERAS_BATCH_PREFIX) and series == "train":
        if DEDUP.fit_reports_batches:
            return None
        return tag[len(KERAS_BATCH_PREFIX):], "train_batch"
    return tag, series


def _make_writer_wrapper(original: Any) -> Any:
    def create_file_writer(logdir: Any, *args: Any, **kwargs: Any) -> Any:
        writer = original(logdir, *args, **kwargs)
        with contextlib.suppress(TypeError, ValueError):
            _state.writer_dirs[writer] = os.path.basename(os.path.normpath(os.fspath(logdir)))
        return writer

    create_file_writer.__wrapped__ = original  # type: ignore[attr-defined]
    create_file_writer.__doc__ = original.__doc__
    return create_file_writer


def _make_scalar_wrapper(original: Any) -> Any:
    def scalar(name: Any, data: Any, step: Any = None, description: Any = None) -> Any:
        written = original(name, data, step=step, description=description)
        try:
            _capture(name, data, step, written)
        except Exception:  # never break the user's summary writing
            log.debug("tunehouse could not capture summary %r", name, exc_info=True)
        return written

    scalar.__wrapped__ = original  # type: ignore[attr-defined]
    scalar.__doc__ = original.__doc__
    return scalar


def _capture(name: Any, data: Any, step: Any, written: Any) -> None:
    provider = _state.logger_provider
    tf = sys.modules.get("tensorflow")
    if provider is None or tf is None or not tf.executing_eagerly() or not bool(written):
        return
    logger = provider()
    if logger is None:
        return
    if step is None:
        step = tf.summary.experimental.get_step()
        if step is None:
            return
    mapped = map_summary(str(name), _current_series(tf))
    if mapped is None:
        return
    title, series = mapped
    DEDUP.report(logger, title, series, float(data), int(step))


def _current_series(tf: Any) -> str:
    try:
        from tensorflow.python.ops import summary_ops_v2

        writer = summary_ops_v2._summary_state.writer
    except (ImportError, AttributeError):
        return DEFAULT_SERIES
    if writer is None:
        return DEFAULT_SERIES
    try:
        return _state.writer_dirs.get(writer) or DEFAULT_SERIES
    except TypeError:
        return DEFAULT_SERIES


def attach(task: TrackedTask, _options: Any = True) -> Callable[[], None]:
    """Entry of :data:`tunehouse.integrations.frameworks.INTEGRATIONS`, called once
    TensorFlow is imported: wrap ``tf.summary`` for ``task``."""
    def provider() -> Any:
        return task.get_logger() if task.running else None

    install(provider)
    return uninstall
