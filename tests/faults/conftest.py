"""Fault tests: real processes, real filesystems, real failures (see docs/reliability.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers.tmpfs import CannotMount, small_tmpfs
from tests.server.conftest import anon, api, server, shared_pg_server  # noqa: F401 - shared fixtures


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tmpfs("2m")`` mounts a small tmpfs for this test and returns its path (skips the
    test where mounting is not allowed)."""
    with ExitStack() as stack:
        def mount(size: str) -> Path:
            try:
                return stack.enter_context(
                    small_tmpfs(tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}", size))
            except CannotMount as exc:
                pytest.skip(str(exc))

        yield mount
