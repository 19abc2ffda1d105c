"""The program a warm trial interpreter runs (``python warm_boot.py STATUS_FD MODULE...``).

Run as a file by :mod:`tunehouse.agent.warm`, never imported: it imports nothing of
tunehouse. In order:

1. Drops its own folder from ``sys.path`` (imports come from the installed packages only)
   and points file descriptors 1 and 2 at ``/dev/null``, keeping the task's stdout and
   stderr pipes aside: what the warm-up prints never reaches the task's console.
2. Imports each ``MODULE`` (a failure is reported, not raised), then writes ``ready`` or
   ``failed <module>: <error>`` as one line on ``STATUS_FD`` and closes it.
3. Reads the task from stdin up to EOF: one JSON object with ``entry``, ``argv`` (after
   the script), ``cwd`` and ``env`` (the task's whole environment). Empty input: the
   agent no longer needs this interpreter, and it exits.
4. Becomes the task: stdin from ``/dev/null``, the task's pipes back on 1 and 2, the
   environment replaced, the working directory changed, ``sys.argv`` and ``sys.path[0]``
   as ``python ENTRY ARGV...`` sets them, and the entry point run as the ``__main__``
   module (a fresh one, as :func:`runpy.run_path` makes it).
5. Ends as Python ends, in its order - the exit code (``sys.exit("message")`` prints the
   message), non-daemon threads joined (``threading._shutdown``, which also shuts
   ``concurrent.futures`` pools), ``atexit`` handlers - then finalizes what the script
   held: ``__main__``'s globals are cleared and collected (``__del__`` methods, files and
   writers such as ``tf.summary``'s flushed by their finalizers), files still open
   elsewhere are flushed, and the process leaves with ``os._exit``, skipping the teardown
   of every imported module: seconds with TensorFlow loaded, for nothing the task can
   observe. ``KeyboardInterrupt`` (death by SIGINT) takes Python's own way out.
"""

import atexit
import gc
import io
import json
import os
import sys
import threading
import types


def _warm_up(status_fd: int, modules: list[str]) -> None:
    del sys.path[0]  # this file's folder: never a source of the task's imports
    task_out, task_err = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    failure = ""
    for name in modules:
        try:
            __import__(name)
        except BaseException as exc:  # noqa: BLE001 - a module may even call sys.exit
            failure = failure or f"{name}: {type(exc).__name__}: {exc}"
    with os.fdopen(status_fd, "w") as status:
        status.write(f"failed {failure}\n" if failure else "ready\n")
    spec_text = b""
    while chunk := os.read(0, 1 << 16):
        spec_text += chunk
    if not spec_text.strip():
        os._exit(0)
    spec = json.loads(spec_text)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(devnull, 0)
    os.dup2(task_out, 1)
    os.dup2(task_err, 2)
    for fd in (devnull, task_out, task_err):
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
    _warm_up(int(sys.argv[1]), sys.argv[2:])
