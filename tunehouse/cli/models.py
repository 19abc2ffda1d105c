"""``tunehouse models``: the model registry from the command line.

    tunehouse models list [--name NAME] [--task TASK_ID]
    tunehouse models show MODEL                   # without a version: the latest
    tunehouse models download MODEL [--stage S] [--dest DIR]
    tunehouse models promote MODEL [--stage production]
    tunehouse models rollback MODEL [--stage production]   # MODEL: the version to go back to
    tunehouse models publish MODEL

Every command names a version the same way, MODEL: ``NAME:VERSION`` (``classifier:3``), or
the version's id (or a unique prefix of it). ``--version N`` is the same as ``NAME:N``; the
older forms ``promote NAME VERSION``, ``publish NAME VERSION`` and ``rollback NAME --to
VERSION`` still work. ``show`` and ``download`` take the latest version when none is named;
``promote``, ``rollback`` and ``publish`` need one.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from rich.table import Table

from tunehouse.cli._ids import pick_by_prefix, resolve_task
from tunehouse.cli._options import add_common_options, console, open_store, settings_from_args, when
from tunehouse.errors import InvalidInput, NotFound
from tunehouse.store.base import Store
from tunehouse.store.records import Model, ModelUpdate

DEFAULT_STAGE = "production"
#: An error naming a model's versions lists at most this many of them.
SHOWN_VERSIONS = 30
_MODEL_HELP = ("the model version: NAME:VERSION (e.g. classifier:3), or the version's id or a "
               "unique prefix of it")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models", help="model registry: list, show, download, promote, rollback, publish")
    commands = parser.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="list model versions by name then version")
    listing.add_argument("--name", default=None, help="only versions of this model")
    listing.add_argument("--task", default=None, metavar="TASK_ID",
                         help="only models created by this task (id or unique id prefix)")
    add_common_options(listing)
    listing.set_defaults(func=run_list)

    show = commands.add_parser("show", help="show one version (MODEL without a version: the "
                                            "latest)")
    _add_model_arguments(show, "MODEL without a version: the latest")
    add_common_options(show)
    show.set_defaults(func=run_show)

    download = commands.add_parser(
        "download", help="download a version (default: the latest) and print its local path")
    _add_model_arguments(download, "MODEL without a version or --stage: the latest")
    download.add_argument("--stage", default=None,
                          help="the version this stage alias (e.g. production) points at")
    download.add_argument("--dest", type=Path, default=None, metavar="DIR",
                          help="copy the model into DIR (default: leave it in the cache under "
                               "the data dir's models-cache/)")
    add_common_options(download)
    download.set_defaults(func=run_download)

    promote = commands.add_parser("promote", help="point a stage alias at a version")
    _add_model_arguments(promote, "the version the stage will point at")
    promote.add_argument("old_version", nargs="?", type=int, default=None, metavar="VERSION",
                         help="the version, written the older way (promote NAME VERSION)")
    promote.add_argument("--stage", default=DEFAULT_STAGE,
                         help=f"stage alias (default {DEFAULT_STAGE})")
    add_common_options(promote)
    promote.set_defaults(func=run_promote)

    rollback = commands.add_parser(
        "rollback", help="move a stage alias back to an earlier version (audited)")
    _add_model_arguments(rollback, "the earlier version to go back to; --to N is the same",
                         aliases=("--to",))
    rollback.add_argument("--stage", default=DEFAULT_STAGE,
                          help=f"stage alias (default {DEFAULT_STAGE})")
    add_common_options(rollback)
    rollback.set_defaults(func=run_rollback)

    publish = commands.add_parser("publish", help="publish a version: it becomes immutable")
    _add_model_arguments(publish, "the version to publish")
    publish.add_argument("old_version", nargs="?", type=int, default=None, metavar="VERSION",
                         help="the version, written the older way (publish NAME VERSION)")
    add_common_options(publish)
    publish.set_defaults(func=run_publish)


def _add_model_arguments(parser: argparse.ArgumentParser, what: str,
                         aliases: tuple[str, ...] = ()) -> None:
    """The positional MODEL and ``--version N`` (plus ``aliases`` of it) every command that
    names a model version takes."""
    parser.add_argument("model", metavar="MODEL", help=f"{_MODEL_HELP} ({what})")
    parser.add_argument("--version", *aliases, dest="version", type=int, default=None,
                        metavar="N", help="the version number (the same as MODEL NAME:N)")


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        task_id = resolve_task(store, args.task).id if args.task else None
        models = store.models.list_models(name=args.name, task_id=task_id)
    table = Table("id", "name", "version", "framework", "format", "stages", "tags",
                  "published", "size", "task", "created", title=f"{len(models)} model versions")
    for m in models:
        table.add_row(m.id, m.name, str(m.version), m.framework or "-", m.format or "-",
                      ", ".join(m.stages) or "-", ", ".join(m.tags) or "-",
                      "yes" if m.published else "no", human_size(m.size), m.task_id or "-",
                      when(m.created))
    console().print(table)
    return 0


def split_ref(ref: str) -> tuple[str, int | None]:
    """``"classifier:3"`` -> ``("classifier", 3)``; anything else -> ``(ref, None)``."""
    text = ref.strip()
    name, sep, version = text.rpartition(":")
    if sep and name and version.isdigit():
        return name, int(version)
    return text, None


def requested_version(args: argparse.Namespace,
                      *others: tuple[str, int | None]) -> int | None:
    """The version MODEL (``NAME:N``), ``--version`` and ``others`` (label, value) name;
    they must agree."""
    given = [(repr(args.model), split_ref(args.model)[1]), ("--version", args.version), *others]
    named = [(label, value) for label, value in given if value is not None]
    if len({value for _, value in named}) > 1:
        raise InvalidInput("two different versions named: "
                           + ", ".join(f"{label} says {value}" for label, value in named))
    return named[0][1] if named else None


def resolve_model(store: Store, ref: str, version: int | None = None,
                  need_version: bool = False) -> Model:
    """The version ``ref`` names: an id, ``NAME:VERSION``, ``NAME`` with ``version``, or
    ``NAME`` alone (the latest; refused with ``need_version``), else a unique id prefix.

    Raises:
        NotFound: no such model or version (the message lists the model's versions).
        InvalidInput: the version is missing (``need_version``) or an id prefix is ambiguous.
    """
    text = ref.strip()
    if not text:
        raise InvalidInput("give a model: NAME:VERSION, or a version's id")
    name, in_ref = split_ref(text)
    version = in_ref if version is None else version
    if version is None:
        try:
            return store.models.get_model(text)
        except (NotFound, InvalidInput):  # InvalidInput: not even shaped like an id
            pass
    versions = sorted(store.models.list_models(name=name), key=lambda m: m.version)
    if versions:
        if version is not None:
            for model in versions:
                if model.version == version:
                    return model
            raise NotFound(f"model {name} has no version {version}; "
                           f"versions: {_version_list(versions)}")
        if need_version:
            raise InvalidInput(f"name the version: {name}:VERSION or --version N (model {name} "
                               f"has versions {_version_list(versions)})")
        return versions[-1]
    if version is not None:
        raise NotFound(f"no model named {name!r}")
    ids = [model.id for model in store.models.list_models()]
    return store.models.get_model(pick_by_prefix("model", text, ids))


def _version_list(versions: list[Model]) -> str:
    numbers = [str(model.version) for model in versions]
    if len(numbers) > SHOWN_VERSIONS:
        half = SHOWN_VERSIONS // 2
        numbers = [*numbers[:half], "...", *numbers[-half:]]
    return ", ".join(numbers)


def run_show(args: argparse.Namespace) -> int:
    version = requested_version(args)
    with open_store(args) as store:
        model = resolve_model(store, args.model, version)
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

    version = requested_version(args)
    if version is not None and args.stage:
        raise InvalidInput("give a version or --stage, not both")
    with open_store(args) as store:
        if args.stage:
            name = split_ref(args.model)[0]
            found = _stage_holder(store, name, args.stage)
            if found is None:
                raise NotFound(f"no version of model {name!r} has stage {args.stage!r}")
        else:
            found = resolve_model(store, args.model, version)
        model = InputModel(model_id=found.id, store=store, settings=settings_from_args(args))
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
    version = requested_version(args, ("VERSION", args.old_version))
    with open_store(args) as store:
        target = resolve_model(store, args.model, version, need_version=True)
        previous = _stage_holder(store, target.name, args.stage)
        model = store.models.set_model_stage(target.name, args.stage, target.version)
    was = f" (was version {previous.version})" if previous else ""
    print(f"{model.name}: stage {args.stage} -> version {model.version}{was}")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    version = requested_version(args)
    with open_store(args) as store:
        target = resolve_model(store, args.model, version, need_version=True)
        current = _stage_holder(store, target.name, args.stage)
        if current is None:
            raise InvalidInput(f"no version of model {target.name!r} has stage "
                               f"{args.stage!r}; use `tunehouse models promote` to set it")
        if target.version >= current.version:
            raise InvalidInput(
                f"rollback goes back to an earlier version: {args.stage!r} is at version "
                f"{current.version}, got version {target.version}; use promote to move "
                "forward")
        model = store.models.set_model_stage(target.name, args.stage, target.version)
    print(f"{model.name}: stage {args.stage} rolled back to version {model.version} "
          f"(was version {current.version})")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    version = requested_version(args, ("VERSION", args.old_version))
    with open_store(args) as store:
        model = resolve_model(store, args.model, version, need_version=True)
        model = store.models.update_model(model.id, ModelUpdate(published=True))
    print(f"{model.name}: version {model.version} published")
    return 0


def _stage_holder(store: Store, name: str, stage: str) -> Model | None:
    """The version ``stage`` points at, or None; NotFound when there is no model ``name``."""
    try:
        return store.models.find_model(name, stage=stage)
    except NotFound:
        if not store.models.list_models(name=name):
            raise NotFound(f"no model named {name!r}") from None
        return None


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
