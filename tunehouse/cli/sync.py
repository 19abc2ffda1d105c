"""``tunehouse sync``: upload what could not reach the server: runs recorded offline
(``Task.init`` found no server) and reports that dead processes left in the spool."""

from __future__ import annotations

import argparse
from typing import Any

from tunehouse.cli._options import add_common_options, open_store, settings_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="upload spooled reports left behind by processes that could not reach the store",
        description="Create the runs recorded offline in <data dir>/offline on the "
                    "server with all they recorded, then send every batch in "
                    "$TUNEHOUSE_SPOOL (default <data dir>/spool) to the store, oldest "
                    "first, each at most once. Folders of running processes are skipped. "
                    "The data dir is --data-dir, else $TUNEHOUSE_HOME (default ~/.tunehouse).",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunehouse.sdk.offline import OfflineSyncResult, sync_offline_runs
    from tunehouse.sdk.spool import sync_spool

    settings = settings_from_args(args)
    with open_store(args, user=None) as store:
        offline = (sync_offline_runs(settings, store) if settings.server
                   else OfflineSyncResult())
        result = sync_spool(settings, store)
    for task_id in offline.uploaded:
        print(f"uploaded offline run {task_id}")
    for task_id in offline.skipped_running:
        print(f"skipped offline run {task_id}: its process is still running")
    for failure in offline.failed:
        print(f"offline run not uploaded (will retry on the next sync): {failure}")
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
    return 1 if result.failed or result.rejected or result.kept_rejected or offline.failed \
        else 0
