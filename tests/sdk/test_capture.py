"""The background capture of ``Task.init``: package list and git state, read cheaply.

``installed_packages`` reads only the header of each distribution's metadata (the email
parser over whole files took hundreds of milliseconds with a few hundred packages), and
``capture_code`` asks git in three rounds of commands run side by side; both must record
exactly what they recorded before.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from tunehouse.sdk.capture import git
from tunehouse.sdk.capture.environment import (
    _name_and_version,
    imported_distribution_modules,
    installed_packages,
)


def _parsed_by_email(dist: importlib.metadata.Distribution) -> str | None:
    name = dist.metadata["Name"] if dist.metadata else None
    return f"{name}=={dist.version}" if name else None


def test_installed_packages_are_what_the_metadata_parser_reads() -> None:
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        entry = _parsed_by_email(dist)
        if entry and entry.split("==")[0].lower() not in expected:
            expected[entry.split("==")[0].lower()] = entry
    assert installed_packages() == [expected[key] for key in sorted(expected)]
    assert any(entry.lower().startswith("pydantic==") for entry in installed_packages())


class FakeDistribution(importlib.metadata.Distribution):
    def __init__(self, files: dict[str, str]) -> None:
        self.files_text = files

    def read_text(self, filename: str) -> str | None:
        return self.files_text.get(filename)

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        return Path(path)


@pytest.mark.parametrize(("files", "expected"), [
    ({"METADATA": "Metadata-Version: 2.1\nName: Alpha\nVersion: 1.2\n\nName: body\n"},
     ("Alpha", "1.2")),
    ({"METADATA": "Metadata-Version: 2.1\r\nName: Crlf\r\nVersion: 3\r\n\r\nbody"},
     ("Crlf", "3")),
    ({"METADATA": "Summary: a long\n  folded: line\nVersion: 2.0\nName: Beta\n"},
     ("Beta", "2.0")),
    ({"METADATA": "Name: First\nName: Second\nVersion: 1\n"}, ("First", "1")),
    ({"PKG-INFO": "Metadata-Version: 1.0\nName: legacy\nVersion: 0.1\n"}, ("legacy", "0.1")),
    ({"": "Metadata-Version: 1.0\nName: egg\nVersion: 0.2\n"}, ("egg", "0.2")),
    ({"METADATA": "Name: noversion\n"}, ("noversion", None)),
    ({}, (None, None)),
])
def test_name_and_version_come_from_the_header(files: dict[str, str],
                                               expected: tuple[str | None, str | None]) -> None:
    dist = FakeDistribution(files)
    assert _name_and_version(dist) == expected
    if files:
        assert (dist.metadata["Name"], dist.metadata["Version"]) == expected


# ------------------------------------------------------------------ git
def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('train')\n")
    return path


def test_the_branch_remote_wins_over_origin(repo: Path) -> None:
    _git(repo, "remote", "add", "origin", "https://example.com/origin.git")
    _git(repo, "remote", "add", "fork", "https://user:token@example.com/fork.git")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "config", "branch.main.remote", "fork")
    (repo / "train.py").write_text("print('changed')\n")
    script = git.capture_code(repo, [str(repo / "train.py")]).script
    assert (script.repository, script.branch) == ("https://example.com/fork.git", "main")
    assert script.commit == _git(repo, "rev-parse", "HEAD")
    assert "+print('changed')" in script.diff
    assert (script.entry_point, script.working_dir, script.script_text) == ("train.py", ".", "")


def test_a_detached_head_has_no_branch_and_takes_the_only_remote(repo: Path) -> None:
    _git(repo, "remote", "add", "upstream", "https://example.com/up.git")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "checkout", "-q", "--detach")
    (repo / "notes.txt").write_text("untracked\n")
    script = git.capture_code(repo / ".", ["-c"]).script
    assert (script.repository, script.branch) == ("https://example.com/up.git", "")
    assert script.commit == _git(repo, "rev-parse", "HEAD")
    assert (script.untracked_files, script.entry_point, script.diff) == (["notes.txt"], "", "")


def test_a_repository_without_commits_records_the_staged_diff(repo: Path) -> None:
    _git(repo, "add", "train.py")
    script = git.capture_code(repo, [str(repo / "train.py")]).script
    assert (script.repository, script.branch, script.commit) == (repo.resolve().as_posix(),
                                                                 "", "")
    assert "+print('train')" in script.diff
    assert script.script_text == "print('train')\n"


def test_outside_a_repository_the_script_text_is_kept(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('alone')\n")
    script = git.capture_code(tmp_path, [str(tmp_path / "train.py")]).script
    assert (script.repository, script.commit) == ("", "")
    assert script.entry_point == str((tmp_path / "train.py").resolve())
    assert script.script_text == "print('alone')\n"


@pytest.fixture
def slow_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``git`` first on PATH that sleeps ``$SLOW_GIT_S`` and prints its first argument."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text('#!/bin/sh\nsleep "$SLOW_GIT_S"\necho "$1"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return fake


def test_git_commands_run_side_by_side(slow_git: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOW_GIT_S", "0.5")
    started = time.monotonic()
    outputs = git._git_all([["a"], ["b"], ["c"], ["d"]], tmp_path)
    assert outputs == ["a\n", "b\n", "c\n", "d\n"]
    assert time.monotonic() - started < 1.5  # one after the other: 2 s


def test_a_git_that_hangs_is_given_up_on(slow_git: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOW_GIT_S", "30")
    monkeypatch.setattr(git, "GIT_TIMEOUT_S", 0.5)
    started = time.monotonic()
    script = git.capture_code(tmp_path, ["-c"]).script
    assert time.monotonic() - started < 5
    assert (script.repository, script.commit, script.working_dir) == ("", "", str(tmp_path))


@pytest.mark.timeout(30)
def test_recorded_imports_leave_out_the_scripts_own_modules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module the script's folder provides is the user's even when a distribution has a
    module of that name: a warm interpreter must not import the installed one."""
    (tmp_path / "train.py").write_text("")
    (tmp_path / "helpers.py").write_text("")
    (tmp_path / "mypkg").mkdir()
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "train.py")])
    for name in ("helpers", "mypkg", "installed_only"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    known = {"helpers", "mypkg", "installed_only", "pytest", "not_imported"}
    assert imported_distribution_modules(known) == ["installed_only", "pytest"]
