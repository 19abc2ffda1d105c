"""``tunehouse sync``: upload the reports that dead processes left in the spool."""

from __future__ import annotations

import argparse
from typing import Any

from tunehouse.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="upload spooled reports left behind by processes that could not reach the store",
        description="Send every batch in $TUNEHOUSE_SPOOL (default $TUNEHOUSE_HOME/spool) "
                    "to the store, oldest first, each at most once. Folders of running "
                    "processes are skipped.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunehouse.sdk.spool import sync_spool

    settings = Settings.from_env()
    result = sync_spool(settings)
    print(f"sent {result.sent} batch(es) ({result.duplicates} already stored), "
          f"rejected {result.rejected}" + (f", split {result.split} refused batch(es) to "
                                           "store their valid part" if result.split else ""))
    for name in result.skipped_locked:
        print(f"skipped task {name}: its process is still running")
    for failure in result.failed:
        print(f"not sent (will retry on the next sync): {failure}")
    for task_id, count in result.kept_rejected.items():
        folder = settings.offline_spool / task_id / "rejected"
        print(f"task {task_id}: {count} batch(es) were refused by the store and are kept in "
              f"{folder} (the .reason files say why)")
    return 1 if result.failed or result.rejected or result.kept_rejected else 0
