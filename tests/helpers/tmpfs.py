"""Small tmpfs mounts: a filesystem that really fills up (or turns read-only), for the
fault tests and benchmarks. Mounting needs root, as CI and the developers' machines have."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class CannotMount(OSError):
    """This machine does not let us mount a tmpfs (not root, or in a container without
    the right)."""


@contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``"1m"``) mounted at ``path`` (created) while the block runs."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        raise CannotMount(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount_read_only(path: Path) -> None:
    """Turn the tmpfs at ``path`` read-only."""
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
