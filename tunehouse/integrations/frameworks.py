"""Registry of framework integrations that ``Task.init`` switches on.

An integration module calls :func:`register_framework` at import time with a name and an
``install(task)`` function that returns an ``uninstall()`` callable (or ``None``).
``Task.init`` calls :func:`connect_frameworks` with the switches from its
``auto_connect_frameworks`` / ``auto_connect_arg_parser`` arguments; ``task.close()``
calls the returned uninstallers. This module imports no framework: integration modules
import TensorFlow/Keras lazily, only once the user's script has imported them;
:func:`when_imported` runs their setup when a module is imported after ``Task.init``.

An integration registered with ``takes_options=True`` is called as
``install(task, options)``, where ``options`` is the value given for its name in
``auto_connect_frameworks`` (``True`` or a dict such as ``{"batch_frequency": 10}``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Installer = Callable[[Any], "Callable[[], None] | None"]

#: Integration modules loaded on first use; a module that does not exist is skipped.
INTEGRATION_MODULES: tuple[str, ...] = (
    "tunehouse.integrations.argparse_hook",
    "tunehouse.integrations.keras",
    "tunehouse.integrations.tensorboard",
)

_registry: dict[str, Callable[..., Any]] = {}
_takes_options: set[str] = set()
_loaded = False


def register_framework(name: str, install: Callable[..., Any], takes_options: bool = False) -> None:
    """Register (or replace) the integration called ``name``.

    Args:
        name: The name used in ``auto_connect_frameworks``.
        install: ``install(task)`` (or ``install(task, options)`` with ``takes_options``)
            returning an ``uninstall()`` callable or ``None``.
        takes_options: Pass the ``auto_connect_frameworks`` value as second argument.
    """
    _registry[name] = install
    if takes_options:
        _takes_options.add(name)
    else:
        _takes_options.discard(name)


def registered_frameworks() -> list[str]:
    _load_integrations()
    return sorted(_registry)


def _load_integrations() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in INTEGRATION_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def connect_frameworks(task: Any, config: Mapping[str, Any]) -> list[Callable[[], None]]:
    """Install every registered integration not switched off in ``config``.

    Args:
        task: The running task (a :class:`~tunehouse.integrations.provider.TrackedTask`).
        config: ``{name: enabled or options}``; names missing from it are enabled.

    Returns:
        The uninstall callables, to be called when the task closes.
    """
    _load_integrations()
    uninstallers = []
    for name, install in sorted(_registry.items()):
        value = config.get(name, True)
        if not value:
            continue
        undo = install(task, value) if name in _takes_options else install(task)
        if undo is not None:
            uninstallers.append(undo)
    return uninstallers


# ------------------------------------------------------------------ post-import hooks
class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for watched top-level modules it returns the regular spec
    with a loader that runs the callbacks once the module has executed."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.callbacks: dict[str, list[Callable[[types.ModuleType], None]]] = {}
        self.finding: set[str] = set()

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.callbacks or fullname in self.finding:
            return None
        self.finding.add(fullname)
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        finally:
            self.finding.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _NotifyingLoader(spec.loader, self)
        return spec

    def run_callbacks(self, module: types.ModuleType) -> None:
        with self.lock:
            callbacks = self.callbacks.pop(module.__name__, [])
        for callback in callbacks:
            try:
                callback(module)
            except Exception as exc:  # an integration must never break the user's import
                sys.stderr.write(f"tunehouse: setup after importing {module.__name__} "
                                 f"failed: {exc}\n")


class _NotifyingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, finder: _PostImportFinder) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.finder.run_callbacks(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


_finder = _PostImportFinder()


def when_imported(module_name: str, callback: Callable[[types.ModuleType], None]) -> Callable[[], None]:
    """Run ``callback(module)`` once top-level module ``module_name`` is imported: at once
    when it already is, else right after its import finishes (through a finder at the
    front of ``sys.meta_path``).

    Returns:
        A callable that cancels a callback that has not run yet.
    """
    module = sys.modules.get(module_name)
    if module is not None:
        callback(module)
        return lambda: None
    with _finder.lock:
        _finder.callbacks.setdefault(module_name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)

    def cancel() -> None:
        with _finder.lock:
            waiting = _finder.callbacks.get(module_name, [])
            if callback in waiting:
                waiting.remove(callback)
            if not waiting:
                _finder.callbacks.pop(module_name, None)
            if not _finder.callbacks and _finder in sys.meta_path:
                sys.meta_path.remove(_finder)

    return cancel
