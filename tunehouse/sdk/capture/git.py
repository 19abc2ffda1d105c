"""Recording the code a run came from: git state, entry script and working directory.

Git is asked through ``subprocess`` with a timeout (never a fork of this process while
other threads hold pipes); a missing ``git`` or a folder outside a repository simply gives
a script record without repository fields. The commands that do not depend on each other
run at the same time (three rounds instead of eight commands one after the other), and
with ``GIT_OPTIONAL_LOCKS=0`` so that they never take the index lock from the user's own
git commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
    #: The repository's folder on this machine (an agent here clones from it first).
    root: str | None = None


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


def _git(args: list[str], cwd: Path, check: bool = True) -> str | None:
    """The output of ``git ARGS`` run in ``cwd``; None when it failed (with ``check``; else
    whatever it printed) or timed out."""
    return _git_all([args], cwd, check)[0]


def _git_all(commands: list[list[str]], cwd: Path, check: bool = True) -> list[str | None]:
    """Run the git ``commands`` at the same time in ``cwd``; their outputs, in order (None
    for one that failed, with ``check``, or did not end within :data:`GIT_TIMEOUT_S` of the
    start)."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    deadline = time.monotonic() + GIT_TIMEOUT_S
    running: list[subprocess.Popen[bytes] | None] = []
    for args in commands:
        try:
            running.append(subprocess.Popen(
                ["git", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=env))
        except OSError:
            running.append(None)
    outputs: list[str | None] = []
    for proc in running:
        outputs.append(None if proc is None else _output(proc, deadline, check))
    return outputs


def _output(proc: subprocess.Popen[bytes], deadline: float, check: bool) -> str | None:
    try:
        out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()  # not the pipe: a child of git's may still hold it open
        if proc.stdout is not None:
            proc.stdout.close()
        return None
    if check and proc.returncode != 0:
        return None
    return out.decode("utf-8", errors="replace")


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
    head = _head(probe)
    if head is None:
        return CodeCapture(Script(
            entry_point=str(script_path) if script_path else "",
            working_dir=str(cwd),
            script_text=_read_text(script_path) if script_path else "",
            argv=argv,
        ))
    root, commit, branch = head
    named_branch = bool(branch) and branch != "HEAD"
    diff, untracked_text, remotes, *branch_remote = _git_all([
        ["diff", "HEAD", "--binary"] if commit else ["diff", "--cached"],
        ["ls-files", "--others", "--exclude-standard"],
        ["remote"],
        *([["config", f"branch.{branch}.remote"]] if named_branch else []),
    ], root)
    remote = _remote_url(root, remotes, branch_remote[0] if branch_remote else None)
    untracked = [line for line in (untracked_text or "").splitlines() if line]
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
    ), large_diff=large, root=root.as_posix())


def _head(probe: Path) -> tuple[Path, str, str] | None:
    """Repository root, commit and branch (``HEAD`` when detached) of the repository
    holding ``probe``, mostly in one git command; None outside a repository. A repository
    without a commit has an empty commit and branch."""
    text = _git(["rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD"], probe,
                check=False)
    lines = (text or "").splitlines()
    if len(lines) == 3:
        return Path(lines[0].strip()), lines[1].strip(), lines[2].strip()
    if not lines:
        return None  # outside a repository (or no git)
    root_text = _git(["rev-parse", "--show-toplevel"], probe)  # no commit yet
    if root_text is None:
        return None
    root = Path(root_text.strip())
    commit, branch = _git_all([["rev-parse", "HEAD"], ["rev-parse", "--abbrev-ref", "HEAD"]],
                              root)
    return root, (commit or "").strip(), (branch or "").strip()


def _remote_url(root: Path, remotes: str | None, branch_remote: str | None) -> str:
    """The URL (without credentials) of the branch's remote (``branch_remote``: the output
    of ``git config branch.<branch>.remote``), else of ``origin``, else of the first remote
    (``remotes``: the output of ``git remote``)."""
    remote_name = (branch_remote or "").strip() or None
    if remote_name is None:
        names = (remotes or "").split()
        remote_name = "origin" if "origin" in names else (names[0] if names else None)
    if remote_name is None:
        return ""
    return strip_credentials((_git(["remote", "get-url", remote_name], root) or "").strip())
