"""The argparse patch and the framework registry are reversible and switchable."""

from __future__ import annotations

import argparse
from typing import Any

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


def test_parser_defaults_skip_help_and_version() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", action="version", version="1")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("pos", nargs="?", default="p")
    assert argparse_hook.parser_defaults(parser) == {"lr": 0.1, "pos": "p"}


def test_framework_registry_respects_switches() -> None:
    calls: list[str] = []

    def install(task: Any) -> Any:
        calls.append(f"install:{task}")
        return lambda: calls.append("uninstall")

    frameworks.register_framework("_test_framework", install)
    try:
        assert "_test_framework" in frameworks.registered_frameworks()
        assert "argparse" in frameworks.registered_frameworks()
        off = {name: False for name in frameworks.registered_frameworks()}
        assert frameworks.connect_frameworks("T", off) == []
        undo = frameworks.connect_frameworks("T", {**off, "_test_framework": True})
        assert calls == ["install:T"]
        for step in undo:
            step()
        assert calls == ["install:T", "uninstall"]
    finally:
        frameworks._registry.pop("_test_framework", None)
