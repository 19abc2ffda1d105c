"""``tunehouse server``: run the tracking server."""

from __future__ import annotations

import argparse
from typing import Any

from tunehouse.cli._options import add_common_options, settings_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "server", help="run the tracking server",
        description="Run the tracking server (JSON API under /api/v1). On first start it "
                    "creates user 'admin' and writes its password and API key to "
                    "<data dir>/credentials.json.")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8420)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    add_common_options(parser, server=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tunehouse.server.run import serve

    settings = settings_from_args(args)
    changes = {name: getattr(args, name) for name in ("host", "port")
               if getattr(args, name) is not None}
    serve(settings.replace(server=None, **changes), access_log=args.access_log,
          log_level=args.log_level)
    return 0
