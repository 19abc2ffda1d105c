"""The table of framework integrations that ``Task.init`` switches on, and the post-import
hook that attaches them.

:data:`INTEGRATIONS` lists every integration: its name (the key in ``Task.init``'s
``auto_connect_frameworks``), the top-level modules whose import attaches it, and where its
``attach`` function lives, as text: nothing is imported to build the table, so
``import tunehouse`` imports no integration and no framework. ``Task.init`` calls
:func:`connect_frameworks` with the switches from ``auto_connect_frameworks`` /
``auto_connect_arg_parser``; for each integration switched on it waits for its hooked
modules (:func:`when_imported`: at once for a module imported already, else right after the
script imports it), then imports the integration module and calls
``attach(task, options)``, which returns an ``undo()`` callable (or ``None``).
``task.close()`` calls the callables :func:`connect_frameworks` returned: pending hooks are
cancelled and every undo runs.

``attach`` is called once per hooked module (Keras' runs after ``keras`` and again after
``tensorflow``: it patches what is there each time), so it must be safe to call again.
``options`` is the value given for the integration's name (``True`` or a dict such as
``{"batch_frequency": 10}``), turned by the entry's ``options`` function, when it has one,
into what ``attach`` takes; that happens in ``Task.init``, so bad options fail there.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Integration:
    """One framework integration.

    Attributes:
        name: Its key in ``auto_connect_frameworks``.
        hooks: Top-level modules whose import attaches it.
        attach: ``"module:function"`` of ``attach(task, options) -> undo | None``; the
            module is imported when a hook fires.
        options: ``"module:callable"`` turning the ``auto_connect_frameworks`` value into
            the options ``attach`` gets (raising ``InvalidInput`` on a bad value); None
            passes the value as it is.
    """

    name: str
    hooks: tuple[str, ...]
    attach: str
    options: str | None = None


INTEGRATIONS: tuple[Integration, ...] = (
    Integration("argparse", hooks=("argparse",),
                attach="tunehouse.integrations.argparse_hook:attach"),
    Integration("keras", hooks=("keras", "tensorflow"),
                attach="tunehouse.integrations.keras:attach",
                options="tunehouse.integrations.keras:KerasOptions.from_value"),
    Integration("tensorboard", hooks=("tensorflow",),
                attach="tunehouse.integrations.tensorboard:attach"),
)


def integration_names() -> list[str]:
    """The names ``auto_connect_frameworks`` knows."""
    return [integration.name for integration in INTEGRATIONS]


def resolve(reference: str) -> Any:
    """The object named by ``"module:attribute.path"``, importing the module."""
    module_name, _, path = reference.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in path.split("."):
        found = getattr(found, part)
    return found


def connect_frameworks(task: Any, config: Mapping[str, Any],
                       integrations: Sequence[Integration] = INTEGRATIONS,
                       ) -> list[Callable[[], None]]:
    """Attach every integration not switched off in ``config`` once its hooked modules are
    imported.

    Args:
        task: The running task (a :class:`~tunehouse.integrations.provider.TrackedTask`).
        config: ``{name: enabled or options}``; names missing from it are enabled.
        integrations: The table (tests give their own).

    Returns:
        One callable per integration switched on, to be called when the task closes: it
        cancels the hooks still waiting and undoes what ``attach`` did.

    Raises:
        InvalidInput: the options of an integration are not acceptable (nothing is
            attached then).
    """
    chosen = []
    for integration in integrations:
        value = config.get(integration.name, True)
        if not value:
            continue
        options = resolve(integration.options)(value) if integration.options else value
        chosen.append(_Attachment(integration, task, options))
    return [attachment.start() for attachment in chosen]


class _Attachment:
    """One integration attached to one task: its pending hooks and its undos."""

    def __init__(self, integration: Integration, task: Any, options: Any) -> None:
        self.integration = integration
        self.task = task
        self.options = options
        self._lock = threading.RLock()  # held while attaching: detach waits for it
        self._cancels: list[Callable[[], None]] = []
        self._undos: list[Callable[[], None]] = []
        self._detached = False

    def start(self) -> Callable[[], None]:
        for module_name in self.integration.hooks:
            cancel = when_imported(module_name, self._attach)
            with self._lock:
                self._cancels.append(cancel)
        return self.detach

    def _attach(self, _module: types.ModuleType) -> None:
        with self._lock:
            if self._detached:
                return
            undo = resolve(self.integration.attach)(self.task, self.options)
            if undo is not None and undo not in self._undos:
                self._undos.append(undo)

    def detach(self) -> None:
        with self._lock:
            self._detached = True
            cancels, self._cancels = self._cancels, []
            undos, self._undos = self._undos, []
        for cancel in cancels:
            cancel()
        for undo in reversed(undos):
            undo()


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
