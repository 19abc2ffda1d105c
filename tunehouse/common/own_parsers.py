"""tunehouse's own command-line parsers, which the SDK's argparse capture leaves alone.

The SDK records every top-level argparse parse of a process as the task's ``Args``
(:mod:`tunehouse.integrations.argparse_hook`); the ``tunehouse`` command's parser is not a
training script's, so it is marked with :func:`mark_own` and skipped. Without the mark, a
process that runs the command in-process (``tunehouse.cli.main.main(argv)``) before
``Task.init`` would record the command's options as the task's parameters.
"""

from __future__ import annotations

import argparse

_ATTRIBUTE = "_tunehouse_own_parser"


def mark_own(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Mark ``parser`` as tunehouse's own (not recorded); returns it."""
    setattr(parser, _ATTRIBUTE, True)
    return parser


def is_own(parser: argparse.ArgumentParser) -> bool:
    """Whether ``parser`` was marked by :func:`mark_own`."""
    return bool(getattr(parser, _ATTRIBUTE, False))
