"""The ``tunehouse`` command line.

Each command group lives in its own module under ``tunehouse.cli`` and exposes
``register(subparsers)``, which adds its parser(s) and sets ``func`` (taking the parsed
``argparse.Namespace`` and returning an exit code). Errors of the tunehouse hierarchy are
printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tunehouse.common.own_parsers import mark_own
from tunehouse.errors import TunehouseError

COMMAND_MODULES: tuple[str, ...] = (
    "tunehouse.cli.server",
    "tunehouse.cli.db",
    "tunehouse.cli.artifacts",
    "tunehouse.cli.users",
    "tunehouse.cli.keys",
    "tunehouse.cli.audit",
    "tunehouse.cli.projects",
    "tunehouse.cli.tasks",
    "tunehouse.cli.sync",
    "tunehouse.cli.models",
    "tunehouse.cli.queues",
    "tunehouse.cli.workers",
    "tunehouse.cli.agent",
    "tunehouse.cli.hpo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = mark_own(argparse.ArgumentParser(  # the SDK's argparse capture skips it
        prog="tunehouse",
        description="Self-hosted experiment tracking and hyperparameter search.",
    ))
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _version() -> str:
    from tunehouse.version import __version__

    return f"tunehouse {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TunehouseError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
