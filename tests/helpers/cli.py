"""The ``tunehouse`` command run in-process: ``main(argv)`` with a clean environment,
its output captured (faster than a subprocess; smoke tests of the installed command still
run ``python -m tunehouse``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tunehouse.cli.main import main


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], env: dict[str, str] | None = None) -> CliResult:
    """``tunehouse *argv`` in this process, with no ``TUNEHOUSE_*`` variable of the caller
    but those of ``env``; its exit status (argparse's too) and output."""
    capsys.readouterr()  # what came before is not the command's
    with monkeypatch.context() as patched:
        for name in [name for name in os.environ if name.startswith("TUNEHOUSE_")]:
            patched.delenv(name)
        for name, value in (env or {}).items():
            if name.startswith("TUNEHOUSE_"):
                patched.setenv(name, value)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return CliResult(code, out, err)
