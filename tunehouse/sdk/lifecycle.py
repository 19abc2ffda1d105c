"""Process-exit handling of the running task, installed by ``Task.init`` and removed by
``close()``: ``atexit``, ``sys.excepthook``, ``threading.excepthook``, SIGTERM and a
``sys.exit`` wrapper that remembers the exit code (so ``sys.exit(1)`` marks the task
failed). Every previous handler is kept, called, and put back."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any


class ExitHooks:
    """Calls ``on_exit(code)`` at interpreter exit, ``on_exception(type, traceback)``
    for an uncaught exception (after the previous hook printed it),
    ``on_thread_exception(thread_name, traceback)`` for one in another thread and
    ``on_sigterm()`` on SIGTERM (then the previous SIGTERM behaviour)."""

    def __init__(self, on_exit: Callable[[int | None], None],
                 on_exception: Callable[[type[BaseException], str], None],
                 on_thread_exception: Callable[[str, str], None],
                 on_sigterm: Callable[[], None]) -> None:
        self._on_exit = on_exit
        self._on_exception = on_exception
        self._on_thread_exception = on_thread_exception
        self._on_sigterm = on_sigterm
        self._exit_code: int | None = None
        self._installed = False
        self._prev_excepthook: Any = None
        self._prev_thread_hook: Any = None
        self._prev_sigterm: Any = None
        self._prev_exit: Any = None
        self._sigterm_installed = False

    def install(self) -> None:
        if self._installed:
            return
        self._installed = True
        atexit.register(self._at_exit)
        self._prev_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        self._prev_thread_hook = threading.excepthook
        threading.excepthook = self._thread_excepthook
        self._prev_exit = sys.exit
        sys.exit = self._exit  # type: ignore[assignment]
        if threading.current_thread() is threading.main_thread():
            try:
                self._prev_sigterm = signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm_installed = True
            except (ValueError, OSError):
                pass

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        atexit.unregister(self._at_exit)
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._prev_excepthook
        if threading.excepthook == self._thread_excepthook:
            threading.excepthook = self._prev_thread_hook
        if sys.exit == self._exit:
            sys.exit = self._prev_exit
        if self._sigterm_installed and threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGTERM) == self._sigterm:
                    signal.signal(signal.SIGTERM, self._prev_sigterm)
            except (ValueError, OSError):
                pass
            self._sigterm_installed = False

    def _exit(self, code: Any = None) -> None:
        if isinstance(code, int):
            self._exit_code = code
        elif code is not None:
            self._exit_code = 1
        self._prev_exit(code)

    def _at_exit(self) -> None:
        self._on_exit(self._exit_code)

    def _excepthook(self, kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        try:
            self._prev_excepthook(kind, exc, tb)
        finally:
            text = "".join(traceback.format_exception(kind, exc, tb))
            self._on_exception(kind, text)

    def _thread_excepthook(self, args: Any) -> None:
        try:
            self._prev_thread_hook(args)
        finally:
            if args.exc_type is not SystemExit:
                text = "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                          args.exc_traceback))
                name = args.thread.name if args.thread is not None else "?"
                self._on_thread_exception(name, text)

    def _sigterm(self, signum: int, frame: Any) -> None:
        previous = self._prev_sigterm
        self._on_sigterm()
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
