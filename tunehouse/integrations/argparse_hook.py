"""Capturing argparse arguments (section ``Args``), reversibly.

:func:`acquire` wraps ``argparse.ArgumentParser.parse_known_args`` (``parse_args`` goes
through it) on behalf of an owner; the original method is put back once the last owner
calls :func:`release`. While the wrapper is in place every top-level parse is remembered;
when a task is listening (see :func:`listen`), the parsed namespace is handed to it, which
stores the arguments or, under an agent, writes the task's stored values into the
namespace. Namespaces parsed before ``Task.init`` are handed over when the task starts
listening, so scripts that parse their arguments first still get the agent's values.

Owners:

* :data:`EARLY` records parses made before ``Task.init``. Importing ``tunehouse.Task``
  acquires it (:func:`record_early_parses`), the one patch tunehouse makes at import: a
  parse that happens before any tunehouse code runs again cannot be seen otherwise.
  ``Task.init`` releases it (:func:`end_early_recording`) once the task listens, or at
  once when argparse capture is switched off.
* the running task's entry in the integrations table (:func:`attach`) owns the patch until
  ``task.close()``, so closing the task restores ``argparse``.
* :func:`install` / :func:`uninstall` are the manual switch: ``uninstall`` restores the
  original whoever holds it.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

from tunehouse.common.own_parsers import is_own
from tunehouse.integrations.provider import TrackedTask

NamespaceListener = Callable[[argparse.ArgumentParser, argparse.Namespace], None]

#: Owner of the patch made at import to record parses before ``Task.init``.
EARLY = "argparse parses before Task.init"
_MANUAL = "install()"

_original: Any = None
_owners: list[object] = []
_listener: NamespaceListener | None = None
_parsed: list[tuple[argparse.ArgumentParser, argparse.Namespace]] = []
_depth = threading.local()
_lock = threading.RLock()
_MAX_REMEMBERED = 16


def installed() -> bool:
    return _original is not None


def acquire(owner: object) -> None:
    """Wrap ``ArgumentParser.parse_known_args`` on behalf of ``owner`` (idempotent per
    owner)."""
    global _original
    with _lock:
        if not any(held is owner for held in _owners):
            _owners.append(owner)
        if _original is not None:
            return
        _original = argparse.ArgumentParser.parse_known_args
        original = _original

    def parse_known_args(self: argparse.ArgumentParser, args: Any = None,
                         namespace: Any = None) -> Any:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        try:
            result = original(self, args, namespace)
        finally:
            _depth.value = depth
        if depth == 0 and isinstance(result, tuple) and result and not is_own(self):
            _remember(self, result[0])
        return result

    argparse.ArgumentParser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def release(owner: object) -> None:
    """Drop ``owner``'s hold; the last one out restores the original method."""
    with _lock:
        _owners[:] = [held for held in _owners if held is not owner]
        if not _owners:
            _restore()


def install() -> None:
    """Wrap ``ArgumentParser.parse_known_args`` (idempotent)."""
    acquire(_MANUAL)


def uninstall() -> None:
    """Restore the original ``parse_known_args`` and forget remembered namespaces, whoever
    holds the patch."""
    with _lock:
        _owners.clear()
        _restore()


def _restore() -> None:
    global _original, _listener
    if _original is None:
        return
    argparse.ArgumentParser.parse_known_args = _original  # type: ignore[method-assign]
    _original = None
    _listener = None
    _parsed.clear()


def record_early_parses() -> None:
    """Remember parses made from now until ``Task.init`` (owner :data:`EARLY`)."""
    acquire(EARLY)


def end_early_recording() -> None:
    """``Task.init`` no longer needs the parses made before it."""
    release(EARLY)


def _remember(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    listener = _listener
    if listener is not None:
        listener(parser, namespace)
        return
    _parsed.append((parser, namespace))
    del _parsed[:-_MAX_REMEMBERED]


def listen(listener: NamespaceListener) -> Callable[[], None]:
    """Hand every parsed namespace (those parsed so far, then new ones) to ``listener``.

    The listener holds the patch (see :func:`acquire`) until it stops.

    Returns:
        A function that stops listening.
    """
    global _listener
    acquire(listener)
    _listener = listener
    earlier = list(_parsed)
    _parsed.clear()
    for parser, namespace in earlier:
        listener(parser, namespace)

    def stop() -> None:
        global _listener
        if _listener is listener:
            _listener = None
        release(listener)

    return stop


def parser_defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Destinations of a parser's arguments and their defaults (help/version excluded)."""
    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    return {
        action.dest: action.default
        for action in parser._actions
        if not isinstance(action, skip) and action.dest is not argparse.SUPPRESS
    }


def attach(task: TrackedTask, _options: Any = True) -> Callable[[], None]:
    """Entry of :data:`tunehouse.integrations.frameworks.INTEGRATIONS`: hand every parsed
    namespace to ``task.connect`` (section ``Args``) until the returned function is called
    (at ``task.close()``)."""
    def hand_over(_parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        task.connect(namespace)

    return listen(hand_over)
