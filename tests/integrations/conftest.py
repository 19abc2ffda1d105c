"""Helpers for the framework integration tests.

TensorFlow takes seconds to import, so every test that needs it runs one Python
subprocess that does several things and prints one JSON line of findings (prefixed by
``RESULT``); the test then checks that and the records in the real store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import clean_env

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "RESULT "


class ScriptRun:
    """The outcome of one subprocess script."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.proc = proc
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def result(self) -> dict[str, Any]:
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(RESULT_PREFIX):
                return json.loads(line[len(RESULT_PREFIX):])
        raise AssertionError(f"no RESULT line in the output:\n{self.stdout}\n{self.stderr}")


def run_python(args: list[str], env: dict[str, str], cwd: Path,
               timeout: float = 240) -> ScriptRun:
    """Run ``python ARGS`` and fail the test (showing its output) unless it exits 0."""
    env = {**env, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"python {' '.join(args)} exited {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-8000:]}")
    return ScriptRun(proc)


@pytest.fixture
def run_script(tmp_path: Path, home: Path) -> Callable[..., ScriptRun]:
    """Run Python source (dedented) in a subprocess with TUNEHOUSE_HOME=home."""

    def run(source: str, env: dict[str, str] | None = None, timeout: float = 240) -> ScriptRun:
        script = tmp_path / f"script_{len(list(tmp_path.glob('script_*.py')))}.py"
        script.write_text(textwrap.dedent(source))
        return run_python([str(script)], env or clean_env(TUNEHOUSE_HOME=str(home)),
                          cwd=tmp_path, timeout=timeout)

    return run


def open_home_store(home: Path):  # type: ignore[no-untyped-def]
    """The embedded SQL store of a data directory (close it when done)."""
    from tunehouse.client import open_store
    from tunehouse.settings import Settings

    return open_store(Settings.from_env(env={}, home=home), user="tester")


def scalars_by_key(store: Any, task_id: str) -> dict[tuple[str, str], dict[int, float | None]]:
    """``{(title, series): {iteration: value}}``, failing on any duplicate point."""
    found: dict[tuple[str, str], dict[int, float | None]] = {}
    for series in store.events.get_scalars(task_id):
        points = dict(zip(series.x, series.y, strict=True))
        assert len(points) == len(series.x), (
            f"duplicate iterations in {series.title}/{series.series}: {series.x}")
        found[(series.title, series.series)] = points
    return found
