"""``tunehouse models``: the model registry from the command line.

    tunehouse models list [--name NAME] [--task TASK_ID]
    tunehouse models show ID | NAME[:VERSION]
    tunehouse models download NAME [--version V | --stage S] [--dest DIR]
    tunehouse models promote NAME VERSION [--stage production]
    tunehouse models rollback NAME --to VERSION [--stage production]
    tunehouse models publish NAME VERSION
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from rich.table import Table

from tunehouse.cli._options import add_common_options, console, open_store, settings_from_args, when
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.base import Store
from tunehouse.store.records import Model, ModelUpdate

DEFAULT_STAGE = "production"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models", help="model registry: list, show, download, promote, rollback, publish")
    commands = parser.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="list model versions by name then version")
    listing.add_argument("--name", default=None, help="only versions of this model")
    listing.add_argument("--task", default=None, metavar="TASK_ID",
                         help="only models created by this task")
    add_common_options(listing)
    listing.set_defaults(func=run_list)

    show = commands.add_parser("show", help="show one version: ID or NAME[:VERSION] "
                                            "(without a version: the latest)")
    show.add_argument("model")
    add_common_options(show)
    show.set_defaults(func=run_show)

    download = commands.add_parser(
        "download", help="download a version (default: the latest) and print its local path")
    download.add_argument("name")
    pick = download.add_mutually_exclusive_group()
    pick.add_argument("--version", type=int, default=None)
    pick.add_argument("--stage", default=None, help="a stage alias such as production")
    download.add_argument("--dest", type=Path, default=None, metavar="DIR",
                          help="copy the model into DIR (default: leave it in the cache under "
                               "the data dir's models-cache/)")
    add_common_options(download)
    download.set_defaults(func=run_download)

    promote = commands.add_parser("promote", help="point a stage alias at a version")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("--stage", default=DEFAULT_STAGE,
                         help=f"stage alias (default {DEFAULT_STAGE})")
    add_common_options(promote)
    promote.set_defaults(func=run_promote)

    rollback = commands.add_parser(
        "rollback", help="move a stage alias back to an earlier version (audited)")
    rollback.add_argument("name")
    rollback.add_argument("--to", type=int, required=True, metavar="VERSION", dest="to_version")
    rollback.add_argument("--stage", default=DEFAULT_STAGE,
                          help=f"stage alias (default {DEFAULT_STAGE})")
    add_common_options(rollback)
    rollback.set_defaults(func=run_rollback)

    publish = commands.add_parser("publish", help="publish a version: it becomes immutable")
    publish.add_argument("name")
    publish.add_argument("version", type=int)
    add_common_options(publish)
    publish.set_defaults(func=run_publish)


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        models = store.models.list_models(name=args.name, task_id=args.task)
    table = Table("id", "name", "version", "framework", "format", "stages", "tags",
                  "published", "size", "task", "created", title=f"{len(models)} model versions")
    for m in models:
        table.add_row(m.id, m.name, str(m.version), m.framework or "-", m.format or "-",
                      ", ".join(m.stages) or "-", ", ".join(m.tags) or "-",
                      "yes" if m.published else "no", human_size(m.size), m.task_id or "-",
                      when(m.created))
    console().print(table)
    return 0


def resolve_model(store: Store, ref: str) -> Model:
    """A version by id, or by ``NAME[:VERSION]`` (without a version: the latest)."""
    try:
        return store.models.get_model(ref)
    except NotFound:
        pass
    name, sep, version = ref.rpartition(":")
    if sep and version.isdigit() and name:
        return store.models.find_model(name, version=int(version))
    return store.models.find_model(ref)


def run_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        model = resolve_model(store, args.model)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows = [
        ("id", model.id), ("name", model.name), ("version", str(model.version)),
        ("framework", model.framework or "-"), ("format", model.format or "-"),
        ("stages", ", ".join(model.stages) or "-"), ("tags", ", ".join(model.tags) or "-"),
        ("published", "yes" if model.published else "no"),
        ("size", human_size(model.size)), ("sha256", model.sha256),
        ("task", model.task_id or "-"), ("user", model.user), ("created", when(model.created)),
        ("comment", model.comment or "-"),
    ]
    for key, value in sorted(model.metadata.items()):
        rows.append((f"metadata.{key}", str(value)))
    for key, value in rows:
        grid.add_row(key, value)
    console().print(grid)
    return 0


def run_download(args: argparse.Namespace) -> int:
    from tunehouse.sdk.models import InputModel

    with open_store(args) as store:
        model = InputModel(name=args.name, version=args.version, stage=args.stage,
                           store=store, settings=settings_from_args(args))
        local = Path(model.get_local_copy())
    if args.dest is not None:
        args.dest.mkdir(parents=True, exist_ok=True)
        target = args.dest / local.name
        if target.exists():
            raise InvalidInput(f"{target} already exists; remove it or pick another --dest")
        if local.is_dir():
            shutil.copytree(local, target)
        else:
            shutil.copy2(local, target)
        local = target
    print(local)
    return 0


def run_promote(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        previous = _stage_holder(store, args.name, args.stage)
        model = store.models.set_model_stage(args.name, args.stage, args.version)
    was = f" (was version {previous.version})" if previous else ""
    print(f"{model.name}: stage {args.stage} -> version {model.version}{was}")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        current = _stage_holder(store, args.name, args.stage)
        if current is None:
            raise InvalidInput(f"no version of model {args.name!r} has stage {args.stage!r}; "
                               f"use `tunehouse models promote` to set it")
        if args.to_version >= current.version:
            raise InvalidInput(
                f"rollback goes back to an earlier version: {args.stage!r} is at version "
                f"{current.version}, got --to {args.to_version}; use promote to move forward")
        model = store.models.set_model_stage(args.name, args.stage, args.to_version)
    print(f"{model.name}: stage {args.stage} rolled back to version {model.version} "
          f"(was version {current.version})")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        model = store.models.find_model(args.name, version=args.version)
        model = store.models.update_model(model.id, ModelUpdate(published=True))
    print(f"{model.name}: version {model.version} published")
    return 0


def _stage_holder(store: Store, name: str, stage: str) -> Model | None:
    try:
        return store.models.find_model(name, stage=stage)
    except NotFound:
        store.models.find_model(name)  # NotFound naming the model when it does not exist at all
        return None


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
