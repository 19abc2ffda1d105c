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
   as ``python ENTRY ARGV...`` sets them, and the entry point run as ``__main__`` with
   :func:`runpy.run_path`. Its ``SystemExit``, uncaught exception (its traceback starts at
   the script), ``atexit`` handlers and threads then end the process as they end a
   fresh one.
"""

import json
import os
import runpy
import sys


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
    try:
        runpy.run_path(entry, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise  # as in a fresh process: an exit code, or death by SIGINT
    except BaseException as exc:  # noqa: BLE001 - reported as Python reports it
        _report_uncaught(exc, entry)


def _report_uncaught(exc: BaseException, entry: str) -> None:
    """What a fresh interpreter does with an uncaught exception: ``sys.excepthook`` (the
    traceback from the script's first frame on, without this file's and runpy's), then
    exit code 1 (after ``atexit`` handlers and non-daemon threads, as ever)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != entry:
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    raise SystemExit(1) from None


if __name__ == "__main__":
    _warm_up(int(sys.argv[1]), sys.argv[2:])
