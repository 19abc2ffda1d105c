"""``tunehouse workers``: the agents that reported lately."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_store
from tunehouse.errors import InvalidInput
from tunehouse.store.records import Worker

#: Stats shown by name, with their label (named as the agent and the SDK's monitor name them).
KNOWN_STATS = (("cpu_percent", "cpu"), ("memory_used_percent", "mem"))
_GPU_UTILISATION = re.compile(r"^gpu_?(\d+)_util(?:ization|isation)?(?:_percent)?$")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("workers", help="workers (agents): list")
    commands = parser.add_subparsers(dest="workers_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="the workers, what they serve and run")
    listing.add_argument("--max-age", type=float, default=None, metavar="SECONDS",
                         help="only workers heard from within this many seconds")
    add_common_options(listing)
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    if args.max_age is not None and args.max_age <= 0:
        raise InvalidInput("--max-age must be more than 0 seconds")
    with open_store(args) as store:
        workers = store.queues.list_workers(max_age_s=args.max_age)
    now = datetime.now(UTC)
    table = Table("worker", "host", "queues", "gpus", "running", "free/slots", "last seen",
                  "stats", title=f"{len(workers)} workers")
    for worker in workers:
        table.add_row(worker.name, worker.host or "-", ", ".join(worker.queues) or "-",
                      ", ".join(worker.gpus) or "-", ", ".join(worker.tasks) or "-",
                      f"{worker.free_slots}/{worker.slots}", _age(worker, now),
                      format_stats(worker.stats))
    console().print(table)
    return 0


def _age(worker: Worker, now: datetime) -> str:
    seen = worker.last_heartbeat
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    seconds = max(0.0, (now - seen).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def format_stats(stats: dict[str, Any]) -> str:
    """The main utilisation figures of a worker's stats, e.g. ``cpu 12% mem 40% gpu0 97%``.

    Read as the agent reports them (``cpu_percent``, ``memory_used_percent``, ``gpus``: a
    list of ``{"index", "utilization_percent", ...}``), or flat ``gpu<N>_utilization``
    keys as the SDK's monitor names them; other numeric stats when none of those is there.
    """
    parts = [f"{label} {_number(stats[key])}%" for key, label in KNOWN_STATS
             if _is_number(stats.get(key))]
    gpus: list[tuple[int, float]] = []
    listed = stats.get("gpus")
    if isinstance(listed, list):
        gpus += [(gpu.get("index", position), gpu["utilization_percent"])
                 for position, gpu in enumerate(listed)
                 if isinstance(gpu, dict) and _is_number(gpu.get("utilization_percent"))]
    gpus += [(int(match.group(1)), value) for key, value in stats.items()
             if (match := _GPU_UTILISATION.match(key)) and _is_number(value)]
    parts += [f"gpu{index} {_number(value)}%" for index, value in sorted(gpus)]
    if not parts:
        parts = [f"{key}={_number(value)}" for key, value in sorted(stats.items())
                 if _is_number(value)][:4]
    return " ".join(parts) or "-"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.3g}"
