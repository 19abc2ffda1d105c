"""Fault tests: real processes, real filesystems, real failures (see docs/reliability.md)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.server.conftest import anon, api, server, shared_pg_server  # noqa: F401 - shared fixtures


@contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (skips the test where mounting is not
    allowed: it needs root, as CI and the developers' machines have)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Callable[[str], Path]:
    """``tmpfs("2m")`` mounts a small tmpfs for this test and returns its path."""
    stack: list[object] = []

    def mount(size: str) -> Path:
        manager = small_tmpfs(tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}", size)
        stack.append(manager)
        return manager.__enter__()

    yield mount  # type: ignore[misc]
    for manager in reversed(stack):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
