"""Capturing argparse arguments (section ``Args``), reversibly.

:func:`install` wraps ``argparse.ArgumentParser.parse_known_args`` (``parse_args`` goes
through it). Every top-level parse is remembered; when a task is listening (see
:func:`listen`), the parsed namespace is handed to it, which stores the arguments or,
under an agent, writes the task's stored values into the namespace. Namespaces parsed
before ``Task.init`` are handed over when the task starts listening, so scripts that
parse their arguments first still get the agent's values. :func:`uninstall` puts the
original method back.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

NamespaceListener = Callable[[argparse.ArgumentParser, argparse.Namespace], None]

_original: Any = None
_listener: NamespaceListener | None = None
_parsed: list[tuple[argparse.ArgumentParser, argparse.Namespace]] = []
_depth = threading.local()
_MAX_REMEMBERED = 16


def installed() -> bool:
    return _original is not None


def install() -> None:
    """Wrap ``ArgumentParser.parse_known_args`` (idempotent)."""
    global _original
    if _original is not None:
        return
    _original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self: argparse.ArgumentParser, args: Any = None,
                         namespace: Any = None) -> Any:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        try:
            result = _original(self, args, namespace)
        finally:
            _depth.value = depth
        if depth == 0 and isinstance(result, tuple) and result:
            _remember(self, result[0])
        return result

    argparse.ArgumentParser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore the original ``parse_known_args`` and forget remembered namespaces."""
    global _original, _listener
    if _original is None:
        return
    argparse.ArgumentParser.parse_known_args = _original  # type: ignore[method-assign]
    _original = None
    _listener = None
    _parsed.clear()


def _remember(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    listener = _listener
    if listener is not None:
        listener(parser, namespace)
        return
    _parsed.append((parser, namespace))
    del _parsed[:-_MAX_REMEMBERED]


def listen(listener: NamespaceListener) -> Callable[[], None]:
    """Hand every parsed namespace (those parsed so far, then new ones) to ``listener``.

    Returns:
        A function that stops listening.
    """
    global _listener
    install()
    _listener = listener
    earlier = list(_parsed)
    _parsed.clear()
    for parser, namespace in earlier:
        listener(parser, namespace)

    def stop() -> None:
        global _listener
        if _listener is listener:
            _listener = None

    return stop


def parser_defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Destinations of a parser's arguments and their defaults (help/version excluded)."""
    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    return {
        action.dest: action.default
        for action in parser._actions
        if not isinstance(action, skip) and action.dest is not argparse.SUPPRESS
    }


def register() -> None:
    """Register this hook in the framework registry under the name ``argparse``."""
    from tunehouse.integrations.frameworks import register_framework

    def connect(task: Any) -> Callable[[], None]:
        return listen(task._connect_parsed_args)

    register_framework("argparse", connect)


register()
