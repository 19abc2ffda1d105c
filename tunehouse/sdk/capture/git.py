"""Recording the code a run came from: git state, entry script and working directory.

Git is asked through ``subprocess.run`` with a timeout (never a fork of this process
while other threads hold pipes); a missing ``git`` or a folder outside a repository
simply gives a script record without repository fields.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tunehouse.store.records import Script

GIT_TIMEOUT_S = 10.0
DIFF_LIMIT_BYTES = 500 * 1024
SCRIPT_TEXT_LIMIT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class CodeCapture:
    """The script record plus a diff too large to keep inline (stored as an artifact)."""

    script: Script
    large_diff: str | None = None


def strip_credentials(url: str) -> str:
    """A remote URL without user name and password/token (``https://tok@host/x`` ->
    ``https://host/x``); scp-like ``git@host:path`` URLs keep their (non-secret) user."""
    url = url.strip()
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    if parts.scheme == "ssh":
        user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
        host = f"{user}@{host}" if user else host
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _git(args: list[str], cwd: Path) -> str | None:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL, env=env, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def entry_script(argv: list[str] | None = None) -> Path | None:
    """The script being run (``sys.argv[0]``) when it is a file."""
    argv = sys.argv if argv is None else argv
    if not argv or not argv[0] or argv[0] in ("-c", "-m"):
        return None
    path = Path(argv[0])
    return path.resolve() if path.is_file() else None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()[:SCRIPT_TEXT_LIMIT_BYTES]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def capture_code(cwd: Path | None = None, argv: list[str] | None = None) -> CodeCapture:
    """Git repository (URL without credentials), branch, commit, ``git diff HEAD``,
    untracked files, entry point and working directory; the script text when the script
    is not tracked by git."""
    cwd = Path.cwd() if cwd is None else cwd
    argv = list(sys.argv if argv is None else argv)
    script_path = entry_script(argv)
    probe = script_path.parent if script_path else cwd
    root_text = _git(["rev-parse", "--show-toplevel"], probe)
    if root_text is None:
        return CodeCapture(Script(
            entry_point=str(script_path) if script_path else "",
            working_dir=str(cwd),
            script_text=_read_text(script_path) if script_path else "",
            argv=argv,
        ))
    root = Path(root_text.strip())
    commit = (_git(["rev-parse", "HEAD"], root) or "").strip()
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], root) or "").strip()
    remote = _remote_url(root, branch)
    diff = _git(["diff", "HEAD", "--binary"], root) if commit else _git(["diff", "--cached"], root)
    untracked = [line for line in (_git(["ls-files", "--others", "--exclude-standard"], root)
                                   or "").splitlines() if line]
    entry = ""
    script_text = ""
    if script_path:
        try:
            entry = str(script_path.relative_to(root.resolve()))
        except ValueError:
            entry = str(script_path)
        # Keep the text where the commit alone cannot bring the script back: untracked,
        # outside the repository, or a repository without a remote to clone from.
        if entry in untracked or not entry or entry == str(script_path) or not remote:
            script_text = _read_text(script_path)
    try:
        working_dir = str(cwd.resolve().relative_to(root.resolve())) or "."
    except ValueError:
        working_dir = str(cwd)
    diff = diff or ""
    large = None
    if len(diff.encode("utf-8", errors="replace")) > DIFF_LIMIT_BYTES:
        large = diff
        diff = (f"# uncommitted diff of {len(large.encode('utf-8', errors='replace'))} bytes "
                "stored as artifact 'git_diff'\n")
    return CodeCapture(Script(
        repository=remote or root.as_posix(),
        branch="" if branch == "HEAD" else branch,
        commit=commit,
        diff=diff,
        untracked_files=untracked,
        entry_point=entry,
        working_dir=working_dir,
        script_text=script_text,
        argv=argv,
    ), large_diff=large)


def _remote_url(root: Path, branch: str) -> str:
    remote_name = None
    if branch and branch != "HEAD":
        remote_name = (_git(["config", f"branch.{branch}.remote"], root) or "").strip() or None
    if remote_name is None:
        remotes = (_git(["remote"], root) or "").split()
        remote_name = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
    if remote_name is None:
        return ""
    return strip_credentials((_git(["remote", "get-url", remote_name], root) or "").strip())
