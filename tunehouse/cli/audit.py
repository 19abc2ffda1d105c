"""``tunehouse audit``: read and export the audit log (admins).

Through the server when one is set (``--server``, ``TUNEHOUSE_SERVER``; the key must be an
admin's), else straight from the database (``--db``), like ``tunehouse users``. The log
is append-only: nothing here (nor anywhere) changes or deletes an entry.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_accounts, when
from tunehouse.errors import InvalidInput
from tunehouse.store.interfaces import AuditLog
from tunehouse.store.records import AuditEvent

#: Entries fetched per request by ``export``.
EXPORT_PAGE = 1000
#: Characters of an entry's details shown by ``list``.
DETAILS_SHOWN = 120
_AGO = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="the audit log: list, export (admins)")
    commands = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    listing = commands.add_parser(
        "list", help="audit entries, newest first",
        description="Audit entries, newest first: who did what to which target, for whom "
                    "(the actor acting for the user), from where (client address).")
    listing.add_argument("--target", default=None, metavar="TYPE[:ID]",
                         help="only entries on this target (task:ID, model:NAME, user:NAME, "
                              "api_key:KEY) or on any target of this type")
    listing.add_argument("--limit", type=int, default=50, metavar="N",
                         help="at most N entries (default 50, at most 10000)")
    listing.set_defaults(func=run_list)
    export = commands.add_parser(
        "export", help="write entries as JSON lines, oldest first (for archives)",
        description="Write every matching entry, oldest first, one JSON object per line "
                    "with all its fields, fetched page by page (for compliance archives).")
    export.add_argument("--out", required=True, metavar="FILE",
                        help="the JSON lines file to write ('-': standard output)")
    export.set_defaults(func=run_export)
    for sub in (listing, export):
        sub.add_argument("--user", default=None, help="only changes made as this user")
        sub.add_argument("--actor", default=None,
                         help="only changes this user made acting for another")
        sub.add_argument("--action", default=None,
                         help="only this action (task.status), or a prefix ending in * (task.*)")
        sub.add_argument("--since", type=moment, default=None, metavar="WHEN",
                         help="from this time: ISO 8601 (UTC without a zone) or an age "
                              "such as 30m, 2h, 7d, 2w")
        sub.add_argument("--until", type=moment, default=None, metavar="WHEN",
                         help="before this time (same forms as --since)")
        add_common_options(sub)


def moment(text: str) -> datetime:
    """A time from ISO 8601 (UTC when it names no zone) or an age (``2h``: two hours ago)."""
    text = text.strip()
    match = _AGO.match(text)
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO 8601 time nor an age like 30m, 2h, 7d") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@contextmanager
def open_audit_log(args: argparse.Namespace) -> Iterator[AuditLog]:
    """The accounts' ``audit`` area: the server's when a server is set (the key must be an
    admin's), else the database's."""
    with open_accounts(args) as accounts:
        yield accounts.audit


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {"user": args.user, "actor": args.actor, "action": args.action,
            "since": args.since, "until": args.until}


def _target(text: str | None) -> tuple[str | None, str | None]:
    if text is None:
        return None, None
    kind, _, target_id = text.partition(":")
    if not kind:
        raise InvalidInput(f"--target {text!r}: use TYPE or TYPE:ID (task:ID, model:NAME)")
    return kind, target_id or None


def run_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise InvalidInput("--limit must be between 1 and 10000")
    target_type, target_id = _target(args.target)
    with open_audit_log(args) as log:
        events = log.list_audit_events(target_type=target_type, target_id=target_id,
                                       limit=args.limit, **_filters(args))
    table = Table("id", "when (UTC)", "user", "actor", "client", "action", "target", "details")
    for event in events:
        table.add_row(str(event.id), when(event.created), event.user, event.actor or "",
                      event.client or "", event.action,
                      f"{event.target_type}:{event.target_id}", _details(event.details))
    console().print(table)
    if not events:
        print("no audit entries match", file=sys.stderr)
    return 0


def _details(details: dict[str, Any]) -> str:
    text = json.dumps(details, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= DETAILS_SHOWN else text[: DETAILS_SHOWN - 1] + "…"


def iter_events(log: AuditLog, page: int = EXPORT_PAGE, **filters: Any) -> Iterator[AuditEvent]:
    """Every matching entry, oldest first, fetched ``page`` at a time (keyset pages)."""
    after: int | None = None
    while True:
        events = log.list_audit_events(limit=page, after_id=after, oldest_first=True,
                                       **filters)
        yield from events
        if len(events) < page:
            return
        after = events[-1].id


def run_export(args: argparse.Namespace) -> int:
    """Write the entries to ``--out`` (through ``FILE.part``, renamed once complete, so
    an archive file is never half written)."""
    with open_audit_log(args) as log:
        events = iter_events(log, **_filters(args))
        if args.out == "-":
            count = _write_lines(sys.stdout, events)
            where = "standard output"
        else:
            out = Path(args.out)
            part = out.with_name(out.name + ".part")
            try:
                with part.open("w", encoding="utf-8") as fh:
                    count = _write_lines(fh, events)
                part.replace(out)
            finally:
                part.unlink(missing_ok=True)
            where = str(out)
    print(f"exported {count} audit entries to {where}", file=sys.stderr)
    return 0


def _write_lines(fh: IO[str], events: Iterator[AuditEvent]) -> int:
    count = 0
    for event in events:
        fh.write(json.dumps(event.model_dump(mode="json"), ensure_ascii=False) + "\n")
        count += 1
    return count
