"""``tunehouse artifacts``: looking after the blob storage of a database (admin commands
that work on the database and the storage directly, like ``tunehouse db``).

* ``gc`` lists the blobs nothing refers to (no artifact, no model version) and older than
  ``--min-age-hours``; it removes them only with ``--yes`` (a dry run by default, as a
  platform admin expects of a command that deletes data nobody can restore);
* ``migrate --to s3://BUCKET/PREFIX`` copies every blob of the configured storage into
  another (sha256 checked on the way; blobs already there are skipped, so running it
  again resumes an interrupted run). The source is kept: switch ``TUNEHOUSE_ARTIFACTS``
  afterwards, then remove the old directory yourself.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tunehouse.cli._options import add_common_options, settings_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("artifacts", help="blob storage: gc, migrate")
    commands = parser.add_subparsers(dest="artifacts_command", metavar="COMMAND",
                                     required=True)
    gc = commands.add_parser("gc", help="find (and with --yes remove) blobs nothing refers to")
    add_common_options(gc, server=False)
    gc.add_argument("--yes", action="store_true",
                    help="remove them (default: only list what would be removed)")
    gc.add_argument("--min-age-hours", type=float, default=24.0, metavar="H",
                    help="keep blobs written within the last H hours: uploads whose "
                         "artifact is not registered yet (default 24)")
    gc.set_defaults(func=run_gc)
    migrate = commands.add_parser("migrate", help="copy the blob storage into another "
                                  "(resumable, hashes checked)")
    add_common_options(migrate, server=False)
    migrate.add_argument("--to", required=True, metavar="LOCATION",
                         help="where to: s3://BUCKET/PREFIX (the TUNEHOUSE_S3_* settings "
                              "apply) or a directory")
    migrate.set_defaults(func=run_migrate)


def run_gc(args: argparse.Namespace) -> int:
    from tunehouse.errors import InvalidInput
    from tunehouse.store.blob_location import open_blob_storage
    from tunehouse.store.blob_maintenance import collect_garbage
    from tunehouse.store.engine import get_engine

    if args.min_age_hours < 0:
        raise InvalidInput("--min-age-hours must be 0 or more")
    settings = settings_from_args(args)
    blobs = open_blob_storage(settings)
    report = collect_garbage(get_engine(settings.db), blobs, remove=args.yes,
                             min_age_s=args.min_age_hours * 3600)
    for sha256, size in report.unreferenced:
        print(f"{'removed' if args.yes else 'unreferenced'} {sha256} {size}")
    mib = report.bytes / 2**20
    if args.yes:
        print(f"removed {len(report.unreferenced)} blobs ({mib:.1f} MiB) from {blobs.location}"
              + (f" and {report.stale_uploads} unfinished uploads" if report.stale_uploads
                 else ""))
    else:
        print(f"{len(report.unreferenced)} blobs ({mib:.1f} MiB) in {blobs.location} are "
              "referred to by nothing; run again with --yes to remove them")
    if report.kept_young:
        print(f"kept {report.kept_young} unreferenced blobs younger than "
              f"{args.min_age_hours:g} h")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from tunehouse.errors import InvalidInput
    from tunehouse.store.blob_location import open_blob_storage
    from tunehouse.store.blob_maintenance import migrate_blobs

    settings = settings_from_args(args)
    target_settings = settings.replace(artifacts=args.to.strip().rstrip("/"))
    source, target = open_blob_storage(settings), open_blob_storage(target_settings)
    if source.location == target.location:
        raise InvalidInput(f"the artifacts are already in {source.location}")

    def progress(sha256: str, what: str) -> None:
        if what != "present":
            print(f"{what} {sha256}", file=sys.stderr if what == "corrupt" else sys.stdout)

    report = migrate_blobs(source, target, progress)
    print(f"{source.location} -> {target.location}: {report.copied} blobs copied "
          f"({report.bytes_copied / 2**20:.1f} MiB), {report.present} already there, "
          f"{len(report.corrupt)} not matching their sha256")
    if report.corrupt:
        print("the blobs listed as corrupt were not copied: their content at the source does "
              "not match their address", file=sys.stderr)
        return 1
    print(f"now set TUNEHOUSE_ARTIFACTS={target.location} (the source was left as it was)")
    return 0
