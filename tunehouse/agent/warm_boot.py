"""The program of a warm interpreter (``python warm_boot.py STATUS_FD CONTROL_FD MODULE...``):
it imports once, then forks a fresh process for each task the agent hands it.

Run as a file by :mod:`tunehouse.agent.warm`, never imported: it imports nothing of
tunehouse. In order:

1. Drops its own folder from ``sys.path`` (imports come from the installed packages only)
   and points stdin, stdout and stderr at ``/dev/null``: what the warm-up prints never
   reaches a task's console.
2. Imports each ``MODULE`` (a failure is reported, not raised), then writes ``ready`` or
   ``failed <module>: <error>`` as one line on ``STATUS_FD`` and closes it.
3. Serves the agent on ``CONTROL_FD`` (a ``SOCK_SEQPACKET`` socket), single-threaded, so
   that forking is safe: each message is a task (one JSON object with ``entry``, ``argv``
   after the script, ``cwd`` and ``env``, the task's whole environment) with the write
   ends of its stdout and stderr pipes attached (``SCM_RIGHTS``); the answer is
   ``pid <pid>`` of the process forked for it, and ``exit <pid> <code>`` when that
   process ends (``code`` as :attr:`subprocess.Popen.returncode` gives it: negative for
   a signal). When the agent closes the socket, it waits for its running tasks, then
   exits. It dies with the agent (``PR_SET_PDEATHSIG``, set by its launcher).
4. The forked process becomes the task: a session of its own, killed when this
   interpreter dies, stdin from ``/dev/null``, the task's pipes on 1 and 2, the
   environment replaced, the working directory changed, ``sys.argv`` and ``sys.path[0]``
   as ``python ENTRY ARGV...`` sets them, and the entry point run as a fresh ``__main__``
   module (as :func:`runpy.run_path` makes it). Nothing one task does reaches the next:
   each is a copy of the interpreter as it was after its imports.
5. It ends as Python ends, in its order - the exit code (``sys.exit("message")`` prints
   the message), non-daemon threads joined (``threading._shutdown``, which also shuts
   ``concurrent.futures`` pools), ``atexit`` handlers - then finalizes what the script
   held: ``__main__``'s globals are cleared and collected (``__del__`` methods, files and
   writers such as ``tf.summary``'s flushed by their finalizers), files still open
   elsewhere are flushed, and the process leaves with ``os._exit``, skipping the teardown
   of every imported module: seconds with TensorFlow loaded, for nothing the task can
   observe. ``KeyboardInterrupt`` (death by SIGINT) takes Python's own way out.
"""

import atexit
import contextlib
import ctypes
import gc
import io
import json
import os
import select
import signal
import socket
import sys
import threading
import types

#: The largest task message (its environment included) the control socket takes.
MESSAGE_MAX = 4 << 20
_PR_SET_PDEATHSIG = 1


def _warm_up(status_fd: int, control_fd: int, modules: list[str]) -> None:
    del sys.path[0]  # this file's folder: never a source of the task's imports
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    failure = ""
    for name in modules:
        try:
            __import__(name)
        except BaseException as exc:  # noqa: BLE001 - a module may even call sys.exit
            failure = failure or f"{name}: {type(exc).__name__}: {exc}"
    with os.fdopen(status_fd, "w") as status:
        status.write(f"failed {failure}\n" if failure else "ready\n")
    if failure:
        os._exit(0)
    _serve(socket.socket(fileno=control_fd))


def _serve(control: socket.socket) -> None:
    """Step 3 of the module doc."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: set[int] = set()
    open_socket = True
    while open_socket or children:
        watched: list[int] = [control.fileno(), wake_read] if open_socket else [wake_read]
        ready, _, _ = select.select(watched, [], [])
        if wake_read in ready:
            os.read(wake_read, 4096)
        for pid, code in _reaped():
            children.discard(pid)
            if open_socket:
                with contextlib.suppress(OSError):
                    control.send(f"exit {pid} {code}".encode())
        if open_socket and control.fileno() in ready:
            try:
                message, fds, _, _ = socket.recv_fds(control, MESSAGE_MAX, 2)
            except OSError:
                message, fds = b"", []
            if not message:
                open_socket = False
                continue
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                _become_task(json.loads(message), fds, parent,
                             (control.fileno(), wake_read, wake_write))
            for fd in fds:
                os.close(fd)
            children.add(pid)
            control.send(f"pid {pid}".encode())
    os._exit(0)


def _reaped() -> list[tuple[int, int]]:
    """The children that ended since the last call, with their exit codes."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def _become_task(spec: dict, fds: list[int], parent: int,
                 inherited: tuple[int, ...]) -> None:
    """Step 4 of the module doc, in the forked process (never returns)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in inherited:
        os.close(fd)
    os.setsid()
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the interpreter died before the line above
        os._exit(137)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in fds:
        os.close(fd)
    os.environ.clear()
    os.environ.update(spec["env"])
    os.chdir(spec["cwd"])
    entry = spec["entry"]
    sys.argv = [entry, *spec["argv"]]
    sys.path.insert(0, os.path.dirname(entry))
    main = _main_module(entry)
    try:
        with io.open_code(entry) as source:
            code = compile(source.read(), entry, "exec", dont_inherit=True)
        exec(code, vars(main))  # noqa: S102 - the task's own entry point, as python runs it
    except KeyboardInterrupt:
        raise  # as in a fresh process: death by SIGINT, after Python's own teardown
    except SystemExit as exc:
        exit_status = _exit_status(exc.code)
    except BaseException as exc:  # noqa: BLE001 - reported as Python reports it
        _report_uncaught(exc, entry)
        exit_status = 1
    else:
        exit_status = 0
    _exit(exit_status, main)


def _main_module(entry: str) -> types.ModuleType:
    """A fresh ``__main__`` for the entry point, with the names ``python ENTRY`` gives it."""
    main = types.ModuleType("__main__")
    vars(main).update(__file__=entry, __cached__=None, __loader__=None, __package__=None,
                      __spec__=None, __builtins__=__builtins__)
    sys.modules["__main__"] = main
    return main


def _exit_status(code: object) -> int:
    """The exit status of ``SystemExit(code)``; a code that is not a number is printed,
    as Python prints it, and exits 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code if -2**31 <= code < 2**31 else -1
    sys.stderr.write(f"{code}\n")
    return 1


def _report_uncaught(exc: BaseException, entry: str) -> None:
    """What a fresh interpreter does with an uncaught exception: ``sys.excepthook`` (the
    traceback from the script's first frame on, without this file's)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != entry:
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


_FILE_TYPES = (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom)  # text ones first


def _exit(status: int, main: types.ModuleType) -> None:
    """Step 5 of the module doc."""
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    vars(main).clear()
    sys.last_value = sys.last_traceback = sys.last_type = None
    gc.collect()
    open_files = [o for o in gc.get_objects() if type(o) in _FILE_TYPES]
    open_files.sort(key=lambda o: _FILE_TYPES.index(type(o)))
    for stream in [*open_files, sys.stdout, sys.stderr]:
        try:
            if not stream.closed:
                stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # closed under us, detached, or a broken pipe: as Python ignores it
    os._exit(status)


if __name__ == "__main__":
    _warm_up(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
