"""The ``tunehouse`` command line, run inside the test process.

``run_cli(*args, env=..., stdin=...)`` calls :func:`tunehouse.cli.main.main` with
``args`` as if typed after ``tunehouse``, with ``os.environ``, the working directory and
the standard streams swapped for the call, and returns what a subprocess would: the exit
code, stdout and stderr. It costs milliseconds where ``python -m tunehouse`` costs a
second or two of interpreter start and imports.

Commands that run until stopped (``server``, ``agent``) or that a test kills, and the few
smoke tests of the installed ``tunehouse`` command, still run as subprocesses.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.server import clean_env

# the environment, the working directory and sys.std* are process-wide: one call at a time
_LOCK = threading.Lock()


@dataclass(frozen=True)
class CliResult:
    """What ``tunehouse ARGS`` did: like :class:`subprocess.CompletedProcess`."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _working_directory(cwd: Path | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


def run_cli(*args: str, env: Mapping[str, str] | None = None, stdin: str = "",
            cwd: Path | None = None, ok: bool = False) -> CliResult:
    """Run ``tunehouse ARGS`` in this process.

    Args:
        args: The command line after ``tunehouse``.
        env: The whole environment of the command (default: this process's without any
            ``TUNEHOUSE_*`` variable).
        stdin: What the command reads from standard input.
        cwd: The working directory of the command (default: unchanged).
        ok: Fail the test (AssertionError with the output) unless the exit code is 0.
    """
    from tunehouse.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with _LOCK, _environment(clean_env() if env is None else env), _working_directory(cwd):
        saved_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exit_:  # argparse: --help, usage errors
                    code = exit_.code if isinstance(exit_.code, int) else (
                        0 if exit_.code is None else 1)
                    if exit_.code is not None and not isinstance(exit_.code, int):
                        print(exit_.code, file=sys.stderr)
        finally:
            sys.stdin = saved_stdin
    result = CliResult(tuple(args), int(code), out.getvalue(), err.getvalue())
    if ok:
        assert result.returncode == 0, (
            f"tunehouse {' '.join(args)} exited with {result.returncode}:\n"
            f"{result.stderr}{result.stdout}")
    return result
