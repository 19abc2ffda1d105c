"""The argparse patch and the framework registry are reversible and switchable."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import run_cli
from tunehouse.errors import InvalidInput
from tunehouse.integrations import argparse_hook, frameworks


def test_argparse_hook_remembers_top_level_parses_and_uninstalls() -> None:
    was_installed = argparse_hook.installed()
    argparse_hook.uninstall()
    original = argparse.ArgumentParser.parse_known_args
    try:
        argparse_hook.install()
        assert argparse.ArgumentParser.parse_known_args is not original
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        sub = parser.add_subparsers(dest="cmd")
        sub.add_parser("go").add_argument("--n", type=int, default=1)
        args = parser.parse_args(["--lr", "0.2", "go", "--n", "3"])
        seen: list[argparse.Namespace] = []
        stop = argparse_hook.listen(lambda _parser, namespace: seen.append(namespace))
        assert seen == [args]  # parsed before listening: handed over once
        again = parser.parse_args([])
        assert seen == [args, again]  # subparser parses are not reported separately
        stop()
        parser.parse_args([])
        assert len(seen) == 2
    finally:
        argparse_hook.uninstall()
        assert argparse.ArgumentParser.parse_known_args is original
        if was_installed:
            argparse_hook.install()


def test_the_tunehouse_command_run_in_process_is_not_recorded(home: Path) -> None:
    """``tunehouse.cli.main.main(argv)`` before ``Task.init`` leaves the task's ``Args``
    alone: the command's parser is tunehouse's own, a script's parser is recorded."""
    was_installed = argparse_hook.installed()
    argparse_hook.uninstall()
    try:
        argparse_hook.install()
        seen: list[argparse.Namespace] = []
        assert run_cli("projects", "list", "--data-dir", str(home)).returncode == 0
        script = argparse.ArgumentParser()
        script.add_argument("--lr", type=float, default=0.1)
        script.parse_args(["--lr", "0.5"])
        stop = argparse_hook.listen(lambda _parser, namespace: seen.append(namespace))
        stop()
        assert [vars(namespace) for namespace in seen] == [{"lr": 0.5}]
    finally:
        argparse_hook.uninstall()
        if was_installed:
            argparse_hook.install()


def test_parser_defaults_skip_help_and_version() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", action="version", version="1")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("pos", nargs="?", default="p")
    assert argparse_hook.parser_defaults(parser) == {"lr": 0.1, "pos": "p"}


def test_every_integration_in_the_table_resolves() -> None:
    assert frameworks.integration_names() == ["argparse", "keras", "tensorboard"]
    for integration in frameworks.INTEGRATIONS:
        assert callable(frameworks.resolve(integration.attach))
        if integration.options is not None:
            assert callable(frameworks.resolve(integration.options))


def test_an_integration_attaches_when_its_library_is_imported_and_detaches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def attach(task: Any, options: Any) -> Any:
        calls.append(("attach", task, options))
        return lambda: calls.append("undo")

    integration = types.ModuleType("_tunehouse_test_integration")
    integration.attach = attach  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, integration.__name__, integration)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "_tunehouse_test_library.py").write_text("VALUE = 1\n")
    (tmp_path / "_tunehouse_test_other.py").write_text("VALUE = 2\n")
    table = [frameworks.Integration("lib", hooks=("_tunehouse_test_library",),
                                    attach="_tunehouse_test_integration:attach"),
             frameworks.Integration("other", hooks=("_tunehouse_test_other",),
                                    attach="_tunehouse_test_integration:attach")]
    try:
        assert frameworks.connect_frameworks("T", {"lib": False, "other": False}, table) == []
        undo = frameworks.connect_frameworks("T", {"lib": {"n": 3}, "other": True}, table)
        assert calls == []  # neither library is imported yet
        import _tunehouse_test_library  # type: ignore[import-not-found]  # noqa: F401
        assert calls == [("attach", "T", {"n": 3})]
        for step in undo:
            step()
        assert calls == [("attach", "T", {"n": 3}), "undo"]
        import _tunehouse_test_other  # type: ignore[import-not-found]  # noqa: F401
        assert calls == [("attach", "T", {"n": 3}), "undo"]  # its hook was cancelled
        assert frameworks._finder not in sys.meta_path
    finally:
        sys.modules.pop("_tunehouse_test_library", None)
        sys.modules.pop("_tunehouse_test_other", None)


def test_bad_options_fail_when_connecting() -> None:
    with pytest.raises(InvalidInput, match="positive integer"):
        frameworks.connect_frameworks("T", {"argparse": False, "tensorboard": False,
                                            "keras": {"batch_frequency": 0}})
